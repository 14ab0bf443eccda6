"""The repeat check of `make check`: `duplicates` over the tree, failing on any pair not allowed below.

`duplicates` (a command of the developer machines, not a pip package) lists the
pairs of places that share six or more lines, the same or of the same shape; it always exits 0, so
this reads its rows and decides. Exit 0: every pair is allowed; 1: a pair is not (fold it, or add it
to ALLOWED with the reason it is not the same logic); 2: the scan was incomplete.

Rows `duplicates` marks `boilerplate` (what they share is mostly punctuation and keywords) pass.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ["duplicates", "--repo", str(ROOT), "--most", "200", "--seconds", "120"]
ROW = re.compile(r"^D\d+ (?P<a>\S+):\d+-\d+ ~ (?P<b>\S+):\d+-\d+(?P<rest>.*)$")


@dataclass(frozen=True)
class Allowed:
    a: str  # a glob for one side's file ...
    b: str  # ... and for the other's (either order)
    why: str

    def covers(self, a: str, b: str) -> bool:
        return any(fnmatchcase(x, self.a) and fnmatchcase(y, self.b) for x, y in ((a, b), (b, a)))


# Pairs that are alike in shape but not one piece of logic. Each needs its reason; keep it short.
ALLOWED = [
    Allowed(
        "devstack/demo_data.py",
        "devstack/demo_data.py",
        "the demo organizations are data: one OrgSpec(...) literal each",
    ),
    Allowed("schema/postgres.sql", "schema/postgres.sql", "DDL: tables with like columns (docs/api.md §4)"),
    Allowed("schema/clickhouse.sql", "schema/clickhouse.sql", "DDL: MergeTree tables with like columns"),
    Allowed("tests/test_authorizer.py", "tests/test_authorizer.py", "the credential table: one Case(...) a row"),
    Allowed(
        "tests/test_authorizer_jwks.py",
        "tests/test_authorizer_jwks.py",
        "JWKS cache timelines: the same fixtures and opening fetch, then each its own sequence",
    ),
    Allowed(
        "tests/test_apikeys_cli.py",
        "tests/test_apikeys_cli.py",
        "tests with the same fixtures whose first step is creating a key with the CLI under test",
    ),
    Allowed(
        "tests/test_hostile_input.py",
        "tests/test_load_smoke.py",
        "each suite's own demo database and stack: fixture declarations around the shared helpers",
    ),
    Allowed(
        "devstack/run.py",
        "layers/common/analytics_common/postgres.py",
        "keyword-argument calls of two unrelated constructors (RunOptions, pg8000's Connection)",
    ),
    Allowed("loadtest/fuzz.py", "loadtest/load.py", "each tool's verdict: FAILED with its problems, or its own OK"),
]


def not_allowed(report: str, used: set[int] | None = None) -> tuple[list[str], list[str]]:
    """(rows no entry allows, lines saying the scan was incomplete) of a `duplicates` report; the
    indexes of the ALLOWED entries that allowed a row are added to `used`."""
    rows, incomplete = [], []
    used = set() if used is None else used
    for line in report.splitlines():
        if line.startswith("incomplete:") or re.match(r"^\(\+\d+ more pairs\)", line):
            incomplete.append(line)
        elif match := ROW.match(line):
            if "boilerplate" in match["rest"]:
                continue
            allowing = [n for n, entry in enumerate(ALLOWED) if entry.covers(match["a"], match["b"])]
            used.update(allowing)
            if not allowing:
                rows.append(line)
    return rows, incomplete


def main() -> int:
    completed = subprocess.run(COMMAND, capture_output=True, text=True, check=False, cwd=ROOT)  # noqa: S603
    report = completed.stdout
    if completed.returncode != 0 or not report.strip():
        print(f"duplicates failed ({completed.returncode}): {completed.stderr.strip()}", file=sys.stderr)
        return 2
    used: set[int] = set()
    rows, incomplete = not_allowed(report, used)
    summary = report.splitlines()[0]
    for n in sorted(set(range(len(ALLOWED))) - used):
        print(f"note: allowed pair {ALLOWED[n].a} ~ {ALLOWED[n].b} no longer repeats: remove it", file=sys.stderr)
    if incomplete:
        print("\n".join([summary, *incomplete]), file=sys.stderr)
        return 2
    if rows:
        print("\n".join([summary, "not allowed (fold them, or allow them in tools/repeat_check.py with why):", *rows]))
        return 1
    print(f"repeat check: {summary}; every pair allowed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
