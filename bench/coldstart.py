"""Cold starts: every function imported and invoked in fresh processes, the Lambda way.

    python -m bench.coldstart [--runs 10] [--only overview,authorizer]   (also part of `make bench`)

Each sample is one `python -I` process running bench/coldstart_child.py: `sys.path` starts with
the function's folder and the layer's, `import app` is timed, then the handler is invoked twice
(the first invocation imports the store drivers and creates the clients). Bytecode is warm, as
Lambda ships it (the build precompiles): the processes read .pyc files from one cache folder
(`-X pycache_prefix`), filled by an untimed first run of each target. One extra row shows the
overview function without any .pyc (what an uncompiled deployment pays at every cold start).

Floors: a bare Python process (`python -I -c pass`, its whole wall time), and a Powertools handler
that only logs (bench/floor_logger/app.py: Logger + inject_lambda_context).

Endpoint functions are invoked for a small tenant of the bench dataset (its query time is small,
so the first invocation shows the one-time costs). The authorizer is invoked with a valid HS256 JWT.
Run this while no other process has the bench's chDB folder open (one chDB engine per folder).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analytics_common.endpoints import NAMES
from bench import dataset

ROOT = dataset.ROOT
LAYER = ROOT / "layers" / "common"
CHILD = Path(__file__).resolve().parent / "coldstart_child.py"
FLOOR_FUNCTION = Path(__file__).resolve().parent / "floor_logger"
PYCACHE = ROOT / ".local" / "bench-pycache"
ENDPOINTS = list(NAMES)
FUNCTIONS = [*ENDPOINTS, "authorizer"]
FIRST_INVOCATION_TENANT = "small-0"

IMPORT_BUDGET_MS = 250.0
IMPORT_BUDGET_RATIO = 1.7  # of the Logger-only handler's import
AUTHORIZER_JWT_BUDGET_MS = 200.0  # import + first JWT decision
JWT_SECRET = "bench-only-hs256-secret-0123456789abcdef"  # noqa: S105 - a local benchmark's key


@dataclass
class Target:
    label: str
    argv: list[str]
    event: dict[str, Any] | None = None
    env: dict[str, str] = field(default_factory=dict)
    samples: list[dict[str, float]] = field(default_factory=list)

    def median(self, key: str) -> float:
        return statistics.median(sample[key] for sample in self.samples)

    def p95(self, key: str) -> float:
        ordered = sorted(sample[key] for sample in self.samples)
        return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def child_argv(name: str, function_dir: Path, *, pyc: bool = True, pycache: Path = PYCACHE) -> list[str]:
    flags = ["-X", f"pycache_prefix={pycache}"] if pyc else ["-B", "-X", f"pycache_prefix={pycache}"]
    path = [str(function_dir), str(LAYER)] if function_dir != FLOOR_FUNCTION else [str(function_dir)]
    return [sys.executable, "-I", *flags, str(CHILD), name, "{event}", "{result}", *path]


def jwt_event() -> dict[str, Any]:
    import jwt

    now = int(time.time())
    token = jwt.encode({"sub": "bench", "org_id": "10", "iat": now, "exp": now + 3600}, JWT_SECRET, "HS256")
    event = json.loads((ROOT / "events" / "authorizer.json").read_text())
    for field_name in ("headers", "multiValueHeaders"):
        headers = event[field_name]
        headers["Authorization"] = f"Bearer {token}" if field_name == "headers" else [f"Bearer {token}"]
    return event


def targets(names: Sequence[str], manifest: dict[str, Any]) -> list[Target]:
    from tests.lambda_support import api_event

    org_id = manifest["tenants"][FIRST_INVOCATION_TENANT]["org_id"]
    found = [
        Target("python (bare)", [sys.executable, "-I", "-X", f"pycache_prefix={PYCACHE}", "-c", "pass"]),
        Target("Logger-only handler", child_argv("floor", FLOOR_FUNCTION), event=api_event("overview", org_id)),
    ]
    for name in names:
        folder = ROOT / "functions" / name
        if not (folder / "app.py").is_file():
            continue
        event = jwt_event() if name == "authorizer" else api_event(name, org_id)
        found.append(Target(name, child_argv(name, folder), event=event, env={"POWERTOOLS_SERVICE_NAME": name}))
    if "overview" in names:
        found.append(
            Target(
                "overview, no .pyc",
                child_argv("overview", ROOT / "functions" / "overview", pyc=False, pycache=PYCACHE / "none"),
                event=api_event("overview", org_id),
            )
        )
    return found


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """What the deployed functions get (template Globals), with the bench stores and a JWT secret."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("POWERTOOLS_", "PYTHON"))}
    env.update(
        POWERTOOLS_LOG_LEVEL="INFO",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_NAMESPACE="PlatformAnalytics",
        POWERTOOLS_SERVICE_NAME="bench",
        STORE_TIMEOUT_SECONDS="30",
        JWT_SECRET=JWT_SECRET,
        JWT_ALGORITHMS="HS256",
        FRONTEND_USAGE_KEY="bench-frontend-usage-key",
    )
    env.update(extra)
    return env


def run_once(target: Target, workdir: Path) -> dict[str, float]:
    event_file, result_file = workdir / "event.json", workdir / "result.json"
    result_file.unlink(missing_ok=True)
    if target.event is not None:
        event_file.write_text(json.dumps(target.event))
    argv = [str(event_file) if a == "{event}" else str(result_file) if a == "{result}" else a for a in target.argv]
    started = time.perf_counter()
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        argv, env=child_env(target.env), cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    wall_ms = (time.perf_counter() - started) * 1000
    if completed.returncode != 0:
        raise SystemExit(f"{target.label}: exit {completed.returncode}\n{completed.stderr.decode()[-2000:]}")
    sample = {"wall_ms": wall_ms}
    if target.event is not None:
        result = json.loads(result_file.read_text())
        if result["status"] not in (200, "allow"):
            raise SystemExit(f"{target.label}: the first invocation answered {result['status']}")
        sample.update({key: float(value) for key, value in result.items() if key != "status"})
    return sample


def precompile() -> None:
    """Bytecode of the project's sources in the cache folder (the site-packages fill in on first runs)."""
    folders = [str(ROOT / "functions"), str(LAYER), str(FLOOR_FUNCTION)]
    subprocess.run(  # noqa: S603
        [sys.executable, "-I", "-X", f"pycache_prefix={PYCACHE}", "-m", "compileall", "-q", *folders], check=True
    )


def measure(names: Sequence[str], manifest: dict[str, Any], runs: int) -> list[Target]:
    """`runs` samples of every target, in rounds (one sample of each per round: load drifts hit all alike)."""
    found = targets(names, manifest)
    precompile()
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as scratch:
        workdir = Path(scratch)
        for target in found:
            run_once(target, workdir)  # untimed: fills the bytecode cache, warms the OS file cache
        for _ in range(runs):
            for target in found:
                target.samples.append(run_once(target, workdir))
    return found


def report(found: list[Target]) -> None:
    by_label = {target.label: target for target in found}
    floor = by_label["Logger-only handler"]
    floor_import, floor_cpu = floor.median("import_ms"), floor.median("import_cpu_ms")
    print(f"\nCold start: median (p95) of {len(found[0].samples)} fresh processes each, milliseconds.")
    print("import: `import app` (wall; cpu: its CPU time, less inflated by other load), x floor: over the")
    print("Logger-only handler's. first: the first invocation (tenant small-0), of which clients: creating the")
    print("store client objects (they connect on their first statement), stores: its Server-Timing (driver imports,")
    print("connections, statements; locally ClickHouse's connection is starting chDB), ours: the rest.")
    print("warm: the second invocation. process: the whole process, interpreter start to exit.")
    print(
        f"\n{'function':<20}{'import':>12}{'cpu':>5}{'x floor':>13}{'first':>12}{'clients':>8}{'stores':>7}"
        f"{'ours':>5}{'warm':>6}{'process':>12}  budget"
    )
    for target in found:
        wall = f"{target.median('wall_ms'):.0f} ({target.p95('wall_ms'):.0f})"
        if target.event is None:
            print(f"{target.label:<20}{'-':>12}{'':>5}{'':>13}{'-':>12}{'':>8}{'':>7}{'':>5}{'':>6}{wall:>12}")
            continue
        imported, cpu = target.median("import_ms"), target.median("import_cpu_ms")
        ours = statistics.median(s["first_ms"] - s["clients_ms"] - s["store_ms"] for s in target.samples)
        verdict = ""
        if target.label in ENDPOINTS:
            ok = imported <= IMPORT_BUDGET_MS and imported <= IMPORT_BUDGET_RATIO * floor_import
            verdict = f"import <= {IMPORT_BUDGET_MS:.0f}, <= {IMPORT_BUDGET_RATIO}x: {'ok' if ok else 'OVER'}"
        elif target.label == "authorizer":
            jwt_path = statistics.median(s["import_ms"] + s["first_ms"] for s in target.samples)
            ok = jwt_path <= AUTHORIZER_JWT_BUDGET_MS
            verdict = f"import + first JWT {jwt_path:.0f} <= {AUTHORIZER_JWT_BUDGET_MS:.0f}: {'ok' if ok else 'OVER'}"
        imports = f"{imported:.0f} ({target.p95('import_ms'):.0f})"
        ratios = f"{imported / floor_import:.2f}/{cpu / floor_cpu:.2f}x"
        firsts = f"{target.median('first_ms'):.0f} ({target.p95('first_ms'):.0f})"
        print(
            f"{target.label:<20}{imports:>12}{cpu:>5.0f}{ratios:>13}{firsts:>12}"
            f"{target.median('clients_ms'):>8.0f}{target.median('store_ms'):>7.0f}{ours:>5.0f}"
            f"{target.median('second_ms'):>6.1f}{wall:>12}  {verdict}",
            flush=True,
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="fresh processes per function")
    parser.add_argument("--only", default="", help="comma-separated functions (default: all)")
    args = parser.parse_args(argv)
    from bench.run import prepare_stores

    manifest = prepare_stores(rebuild=False)
    names = [name for name in args.only.split(",") if name] or FUNCTIONS
    report(measure(names, manifest, args.runs))


if __name__ == "__main__":
    main()
