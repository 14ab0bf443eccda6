"""What a cold start imports: each function imported the Lambda way in a fresh interpreter.

Times are `make bench`'s business (bench.coldstart); these tests pin down the modules a cold start
must not load, and that the deferred Powertools packages still give every name the eager ones give.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from analytics_common.endpoints import NAMES
from analytics_common.imports import POWERTOOLS_PACKAGES, reexports

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = [*NAMES, "authorizer"]
# Store drivers come with the first statement; the rest no function needs at all.
NOT_AT_IMPORT = [
    "pg8000",
    "ssl",
    "clickhouse_connect",
    "chdb",
    "boto3",
    "aws_xray_sdk",
    "pydantic",
    "asyncio",
    "aws_lambda_powertools.event_handler.appsync",
    "aws_lambda_powertools.event_handler.bedrock_agent",
    "aws_lambda_powertools.utilities.data_classes.s3_event",
    "aws_lambda_powertools.utilities.data_classes.kafka_event",
    "aws_lambda_powertools.utilities.parameters",
]


def run_fresh(code: str, path: list[Path]) -> dict:
    """`code` in a fresh `python -I` whose sys.path starts with `path`; the JSON it prints last."""
    prelude = f"import sys\nsys.path[:0] = {[str(p) for p in path]!r}\n"
    completed = subprocess.run(
        [sys.executable, "-I", "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_importing_a_function_loads_no_store_driver_and_no_unused_powertools_part(name: str) -> None:
    loaded = run_fresh(
        """
        import json
        import app
        print(json.dumps({"loaded": sorted(sys.modules), "file": app.__file__}))
        """,
        [ROOT / "functions" / name, ROOT / "layers" / "common"],
    )
    assert loaded["file"] == str(ROOT / "functions" / name / "app.py")
    modules = set(loaded["loaded"])
    assert "analytics_common" in modules
    # PyJWT's JWKS client imports urllib.request, and that imports ssl: the authorizer's JWT path needs PyJWT.
    absent = [mod for mod in NOT_AT_IMPORT if not (name == "authorizer" and mod == "ssl")]
    unexpected = [mod for mod in absent if mod in modules or any(m.startswith(mod + ".") for m in modules)]
    assert unexpected == []


def test_deferred_packages_resolve_every_name_to_the_eager_object() -> None:
    result = run_fresh(
        """
        import json
        import analytics_common  # defers the two packages
        import aws_lambda_powertools.utilities.data_classes.event_source
        event_source_module = sys.modules["aws_lambda_powertools.utilities.data_classes.event_source"]
        from aws_lambda_powertools.event_handler import APIGatewayRestResolver, AppSyncResolver, content_types
        from aws_lambda_powertools.event_handler.api_gateway import APIGatewayRestResolver as Rest
        from aws_lambda_powertools.event_handler.appsync import AppSyncResolver as AppSync
        from aws_lambda_powertools.utilities.data_classes import S3Event, SQSEvent
        from aws_lambda_powertools.utilities.data_classes.s3_event import S3Event as RealS3Event
        from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent as RealSQSEvent
        import aws_lambda_powertools.event_handler as event_handler
        import aws_lambda_powertools.utilities.data_classes as data_classes
        import aws_lambda_powertools.utilities as utilities

        same = [APIGatewayRestResolver is Rest, AppSyncResolver is AppSync, S3Event is RealS3Event,
                SQSEvent is RealSQSEvent, content_types.APPLICATION_JSON == "application/json",
                utilities.data_classes is data_classes, sys.modules[event_handler.__name__] is event_handler,
                # a name that is also its submodule's name: the function, as the eager import leaves it
                data_classes.event_source is event_source_module.event_source]
        # Names the real __init__ defines without a `from ... import`: it runs once, on demand.
        names = {"event_handler": sorted(event_handler.__all__), "data_classes": sorted(data_classes.__all__)}
        try:
            event_handler.NoSuchName
            missing = "no error"
        except AttributeError as exc:
            missing = str(exc)
        print(json.dumps({"same": same, "names": names, "missing": missing}))
        """,
        [ROOT / "layers" / "common"],
    )
    eager = run_fresh(
        """
        import json
        import aws_lambda_powertools.event_handler as event_handler
        import aws_lambda_powertools.utilities.data_classes as data_classes
        names = {"event_handler": sorted(event_handler.__all__), "data_classes": sorted(data_classes.__all__)}
        print(json.dumps(names))
        """,
        [],
    )
    assert result["same"] == [True] * 8
    assert result["names"] == eager
    assert "NoSuchName" in result["missing"]


@pytest.mark.parametrize("package", POWERTOOLS_PACKAGES)
def test_every_public_name_of_a_deferred_package_is_a_reexport_found_in_its_source(package: str) -> None:
    """Pins the installed Powertools: a name `reexports` cannot find would run the real `__init__` again."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    found = reexports(package, Path(spec.origin).read_text())
    public = importlib.import_module(package).__all__
    assert [name for name in public if name not in found] == []
    for name in public:
        module, real_name = found[name]
        assert getattr(importlib.import_module(module), real_name) is getattr(importlib.import_module(package), name)


def test_reexports_reads_relative_absolute_aliased_and_parenthesized_imports() -> None:
    source = textwrap.dedent(
        """
        '''Docs.'''
        from .alb_event import ALBEvent
        from .cloud_watch import (
            Alarm,
            Metric as CloudMetric,  # a comment
        )
        from pkg.sub.api import Resolver, Response
        import os
        x = 1
        """
    )
    assert reexports("pkg.sub", source) == {
        "ALBEvent": ("pkg.sub.alb_event", "ALBEvent"),
        "Alarm": ("pkg.sub.cloud_watch", "Alarm"),
        "CloudMetric": ("pkg.sub.cloud_watch", "Metric"),
        "Resolver": ("pkg.sub.api", "Resolver"),
        "Response": ("pkg.sub.api", "Response"),
    }
