"""One cold start, run by bench.coldstart as a fresh `python -I` process (never imported).

    python -I -X pycache_prefix=DIR bench/coldstart_child.py NAME EVENT_FILE RESULT_FILE PATH...

NAME is the function's name (for its context), PATH... the folders to put first on `sys.path`.
The function is imported the Lambda way: `sys.path` starts with the function's folder and the
layer's, then the interpreter's own (stdlib, site-packages), and the module is `app`. Only `sys`,
`time` and `os` are imported before the timed import, so the import pays for everything it needs.
Then two invocations of `app.lambda_handler`: the first (which creates the store clients) and a
warm second one. Times are milliseconds of `time.perf_counter()`. Within the first invocation, the
time spent in the client factories (`postgres_client()`, `clickhouse_client()`: ClickHouse connects
there, Postgres on its first statement) and in the stores (the Server-Timing header: statements,
and Postgres's connection) are reported too.
"""

import os
import sys
import time


def main() -> None:
    name, event_file, result_file, *path = sys.argv[1:]
    sys.path[:0] = path

    before, cpu_before = time.perf_counter(), time.process_time()
    import app

    imported, cpu_imported = time.perf_counter(), time.process_time()

    import json

    with open(event_file) as file:
        event = json.load(file)
    context = LambdaContext(name)
    factory_seconds = [0.0]
    for factory in ("postgres_client", "clickhouse_client"):
        if hasattr(app, factory):  # the route looks the factory up in app's globals at call time
            setattr(app, factory, timed(getattr(app, factory), factory_seconds))
    invocations, server_timing, clients_ms = [], "", 0.0
    for _ in range(2):
        begin = time.perf_counter()
        response = app.lambda_handler(event, context)
        invocations.append((time.perf_counter() - begin) * 1000)
        if len(invocations) == 1:
            clients_ms = factory_seconds[0] * 1000
            if isinstance(response, dict):
                server_timing = ((response.get("multiValueHeaders") or {}).get("Server-Timing") or [""])[0]
    status = response.get("statusCode") if isinstance(response, dict) and "statusCode" in response else None
    if status is None and isinstance(response, dict) and "policyDocument" in response:
        status = "allow"
    result = {
        "import_ms": (imported - before) * 1000,
        "import_cpu_ms": (cpu_imported - cpu_before) * 1000,
        "first_ms": invocations[0],
        "second_ms": invocations[1],
        "clients_ms": clients_ms,
        "store_ms": sum(float(part.split("dur=")[1]) for part in server_timing.split(",") if "dur=" in part),
        "status": status,
        "modules": len(sys.modules),
    }
    with open(result_file, "w") as out:
        out.write(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: not part of a cold start


def timed(function, seconds):  # unannotated: `typing` is not imported before the import under test
    def wrapper():
        begin = time.perf_counter()
        try:
            return function()
        finally:
            seconds[0] += time.perf_counter() - begin

    return wrapper


class LambdaContext:
    """The attributes Powertools reads from the Lambda context object."""

    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


if __name__ == "__main__":
    main()
