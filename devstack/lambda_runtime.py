"""The functions of the template run in this process, as Lambda runs them: code paths, handler, context."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack.iam import ACCOUNT_ID, REGION
from devstack.template import ROOT, ApiSpec, FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]


def add_code_paths(spec: ApiSpec) -> None:
    """What Lambda puts on `sys.path`: the layers' code and each function's folder (for its own modules)."""
    for directory in [ROOT, *spec.layer_dirs, *(fn.code_dir for fn in spec.functions.values())]:
        entry = str(directory.resolve())
        if entry not in sys.path:
            sys.path.append(entry)


_import_lock = threading.Lock()


def import_handler(spec: FunctionSpec) -> Handler:
    """The function's handler, imported by package path with its template environment applied.

    The template's variables (e.g. `POWERTOOLS_SERVICE_NAME`) are set only while the module
    is imported (Powertools reads them then), and never override what the environment already sets.
    """
    overlay = {name: value for name, value in spec.environment.items() if name not in os.environ}
    with _import_lock, _environment(overlay):
        module = importlib.import_module(spec.module)
    handler = getattr(module, spec.handler)
    if not callable(handler):
        raise TypeError(f"{spec.module}.{spec.handler} is not callable")
    return handler


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    os.environ.update(values)
    try:
        yield
    finally:
        for name in values:
            os.environ.pop(name, None)


@dataclass
class LocalLambdaContext:
    """The Lambda context object Powertools and the handlers read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))
