"""`make fuzz`: Schemathesis against openapi.yaml on the local stack, every check on.

Starts the stack (`python -m devstack.run` on 127.0.0.1, in its own process) and runs the
Schemathesis CLI once per pass, each with `--checks all` (the built-in checks and the
`same_tenant` check of loadtest.fuzz_hooks):

- one pass per credential (the demo JWT and API key of org 1, a JWT of every other
  organization): a valid `Authorization` header on every request, all generation modes; the
  first also runs Schemathesis' coverage phase (every boundary of every parameter, each `tz`
  name among them), the others its examples and fuzzing phases;
  Schemathesis also sends each request without and with made-up credentials (`ignored_auth`);
- generated credentials: no header given, so Schemathesis makes the `Authorization` values up
  (or leaves it out): every answer must be a 401 in the documented shape;
- ignored inputs, per org-1 credential: the operations declare optional `org_id`-like query
  parameters and headers (loadtest.fuzz_hooks), positive mode, so many authenticated cases carry
  odd values; each 200 must still be exactly the caller's own data.

Requirements (exit status 1 otherwise): every pass passes (no server error, every response
matching the schema, no failed check) and at least MIN_CASES test cases in total. The case
count comes from the JSON report of each pass.

    python -m loadtest.fuzz [--min-cases 500] [--port 0] [--local-dir .local/load] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from analytics_common.endpoints import ENDPOINTS
from loadtest import fuzz_hooks
from loadtest.common import (
    DEFAULT_LOCAL_DIR,
    OPENAPI,
    ROOT,
    Credential,
    credentials,
    local_stack,
    say_flushed,
)

MIN_CASES = 500
EXAMPLES_PER_CREDENTIAL = 50  # per operation; without inputs to vary, Schemathesis needs far fewer
EXAMPLES_GENERATED_CREDENTIALS = 60
EXAMPLES_IGNORED_INPUTS = 60
PASS_TIMEOUT_SECONDS = 240
COVERAGE_PASS_TIMEOUT_SECONDS = 900
# The coverage phase sends each boundary of each parameter: every one of the ~600 `tz` names among them
# (a minute per endpoint that takes `tz`). The first credential's pass runs it; the others fuzz.
WITHOUT_COVERAGE = "examples,fuzzing"


@dataclass(frozen=True)
class Pass:
    name: str
    credential: Credential | None  # None: Schemathesis makes the Authorization values up
    max_examples: int
    mode: str = "all"
    ignored_inputs: bool = False
    phases: str | None = WITHOUT_COVERAGE  # None: every phase

    @property
    def timeout_seconds(self) -> int:
        return COVERAGE_PASS_TIMEOUT_SECONDS if self.phases is None else PASS_TIMEOUT_SECONDS


@dataclass
class PassResult:
    name: str
    exit_code: int
    generated: int
    failures: list[str]
    output: str


def plan_passes(creds: Sequence[Credential]) -> list[Pass]:
    passes = [
        Pass(f"credential: {c.label}", c, EXAMPLES_PER_CREDENTIAL, phases=None if n == 0 else WITHOUT_COVERAGE)
        for n, c in enumerate(creds)
    ]
    passes.append(Pass("generated credentials (none valid)", None, EXAMPLES_GENERATED_CREDENTIALS))
    org_one = [c for c in creds if c.org_id == creds[0].org_id]
    passes += [
        Pass(f"ignored inputs: {c.label}", c, EXAMPLES_IGNORED_INPUTS, mode="positive", ignored_inputs=True)
        for c in org_one
    ]
    return passes


def schemathesis_command(url: str, plan: Pass, report_dir: Path, seed: int | None) -> list[str]:
    command = [sys.executable, "-m", "schemathesis.cli", "run", str(OPENAPI), "--url", url]
    command += ["--checks", "all", "--mode", plan.mode, "--max-examples", str(plan.max_examples)]
    command += ["--workers", "1", "--request-timeout", "30", "--generation-database", "none", "--no-color"]
    command += ["--report", "json", "--report-dir", str(report_dir)]
    if seed is not None:
        command += ["--seed", str(seed)]
    if plan.phases is not None:
        command += ["--phases", plan.phases]
    if plan.credential is not None:
        command += ["--header", f"Authorization: Bearer {plan.credential.token}"]
    return command


def run_pass(url: str, plan: Pass, seed: int | None) -> PassResult:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as scratch:
        work = Path(scratch)
        environment = {**os.environ, "SCHEMATHESIS_HOOKS": "loadtest.fuzz_hooks"}
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        environment[fuzz_hooks.URL_ENV] = url
        environment.pop(fuzz_hooks.TOKEN_ENV, None)
        if plan.credential is not None:
            environment[fuzz_hooks.TOKEN_ENV] = plan.credential.token
        environment[fuzz_hooks.IGNORED_INPUTS_ENV] = "1" if plan.ignored_inputs else "0"
        completed = subprocess.run(  # noqa: S603 - this interpreter, our own arguments
            schemathesis_command(url, plan, work / "report", seed),
            cwd=work,  # Schemathesis writes its caches in the working directory
            env=environment,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=plan.timeout_seconds,
            check=False,
        )
        output = completed.stdout + completed.stderr
        reports = sorted((work / "report").glob("*.json"))
        if not reports:
            return PassResult(plan.name, completed.returncode or 1, 0, ["no JSON report"], output)
        report = json.loads(reports[-1].read_text())
    failures = [f"{f['code']} {f['title']}: {', '.join(f['operations'])}" for f in report.get("failures", [])]
    failures += [f"error: {error}" for error in report.get("errors", [])]
    if plan.credential is not None:
        # A secret on the command line is filtered in the report, not in the output: do not show it.
        output = output.replace(plan.credential.token, "[credential]")
    return PassResult(plan.name, completed.returncode, int(report["test_cases"]["generated"]), failures, output)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("--min-cases", type=int, default=MIN_CASES)
    parser.add_argument("--port", type=int, default=0, help="the stack's port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--local-dir", type=Path, default=DEFAULT_LOCAL_DIR, help="the stack's data and secrets")
    parser.add_argument("--scale", type=float, default=1.0, help="demo data size (as make run)")
    parser.add_argument("--seed", type=int, help="Schemathesis seed (default: a new one per pass, as reported)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    endpoints = ENDPOINTS
    results: list[PassResult] = []
    with local_stack(args.local_dir, port=args.port, scale=args.scale) as stack:
        creds = credentials(
            demo_jwt=stack.demo_jwt,
            demo_api_key=stack.demo_api_key,
            jwt_secret=stack.jwt_secret,
            database_url=stack.database_url,
            now=datetime.now(UTC),
        )
        say_flushed(f"Schemathesis on {stack.url}: {len(endpoints)} endpoints, openapi.yaml, --checks all")
        for plan in plan_passes(creds):
            result = run_pass(stack.url, plan, args.seed)
            results.append(result)
            verdict = "ok" if result.exit_code == 0 and not result.failures else "FAILED"
            say_flushed(f"  {plan.name:<44} {result.generated:>5} cases  {verdict}")
            if verdict != "ok":
                say_flushed(result.output[-6000:])
    total = sum(result.generated for result in results)
    failed = [result for result in results if result.exit_code != 0 or result.failures]
    print()
    print(f"{total} test cases generated in {len(results)} passes over {len(endpoints)} endpoints.")
    problems = [f"{result.name}: {'; '.join(result.failures) or f'exit {result.exit_code}'}" for result in failed]
    if total < args.min_cases:
        problems.append(f"only {total} test cases (at least {args.min_cases} required)")
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("OK: no server error, every response matched openapi.yaml, every check passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
