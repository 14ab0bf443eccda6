"""Cold-start imports: packages whose `__init__` imports far more than the functions use, made lazy.

`aws_lambda_powertools.event_handler/__init__.py` imports every resolver (AppSync pulls in asyncio,
Bedrock agents, VPC Lattice...), and `aws_lambda_powertools.utilities.data_classes/__init__.py` every
event class of every AWS service: together ~45 ms of `import app` (`python -X importtime`), though a
function uses one resolver and two or three event classes (BENCHMARKS.md, cold starts).

`defer_package_init(name)` puts the package into `sys.modules` without running its `__init__`.
Its submodules import as usual (`from aws_lambda_powertools.event_handler.api_gateway import ...`),
and a name the real `__init__` would define is looked up when it is first used: a name it
re-exports with `from <submodule> import <name>` comes from that submodule, a submodule is
imported, and any other name runs the real `__init__` once, in the same module object. So every
name resolves to the very object the eager import would give; only the work moves to first use.
A package that is already imported is left alone.

Powertools offers no lazy import of its own (and `importlib.util.LazyLoader` does not help: importing
a submodule reads the package's `__path__`, which runs its `__init__`), so this reads the two
`__init__.py` sources. On a Powertools upgrade, tests/test_lean_imports.py checks it:
- every name of each package's `__all__` is found as a `from ... import` re-export (else that name
  runs the real `__init__` on first use: still correct, but the cold-start saving is gone);
- every name resolves to the very object the eager import gives, and unknown names still fail;
- no function's `import app` loads the unused resolvers and event classes.
If one fails, read the new `__init__.py` of the package: a re-export written another way needs
`reexports` to learn it; a package that became lazy itself can leave POWERTOOLS_PACKAGES.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from typing import Any

POWERTOOLS_PACKAGES = ("aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes")

# `from .module import A, B` / `from package.module import (A, B as C)` statements at the start of a line.
_REEXPORT = re.compile(r"^from\s+([\w.]+)\s+import\s+(\([^)]*\)|[^\n]*)", re.MULTILINE)


def reexports(package: str, source: str) -> dict[str, tuple[str, str]]:
    """{name: (module, name in that module)} of the `from ... import ...` statements of `source`."""
    found: dict[str, tuple[str, str]] = {}
    for origin, names in _REEXPORT.findall(source):
        if origin.startswith(".."):
            continue  # never used by the packages deferred here; resolved by the real __init__
        module = package + origin if origin.startswith(".") else origin
        without_comments = " ".join(line.split("#", 1)[0] for line in names.strip("()").splitlines())
        for item in without_comments.split(","):
            words = item.split()
            if len(words) == 1:
                found[words[0]] = (module, words[0])
            elif len(words) == 3 and words[1] == "as":
                found[words[2]] = (module, words[0])
    return found


def defer_package_init(name: str) -> None:  # noqa: C901 - most of it is the one __getattr__ closure
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or spec.submodule_search_locations is None:
        return  # not an installed package with an __init__.py: nothing to defer
    parent_name, _, child = name.rpartition(".")
    parent = importlib.import_module(parent_name) if parent_name else None
    module = importlib.util.module_from_spec(spec)
    with open(spec.origin, encoding="utf-8") as file:
        source = file.read()
    names = reexports(name, source)
    initialized = False

    def __getattr__(attr: str) -> Any:
        nonlocal initialized
        if attr in names:
            submodule, real_name = names[attr]
            value = getattr(importlib.import_module(submodule), real_name)
            setattr(module, attr, value)
            return value
        if not attr.startswith("__") and importlib.util.find_spec(f"{name}.{attr}") is not None:
            return importlib.import_module(f"{name}.{attr}")
        if not initialized and spec.loader is not None:
            initialized = True
            spec.loader.exec_module(module)  # the real __init__, now, in this same module object
            if attr in module.__dict__:
                return module.__dict__[attr]
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = module
    if parent is not None:
        setattr(parent, child, module)
    # `from .event_source import event_source`: importing that submodule later would bind the
    # package's attribute to the module, where the real __init__ leaves the function. Bound now.
    for attr, (submodule, real_name) in names.items():
        if submodule == f"{name}.{attr}":
            setattr(module, attr, getattr(importlib.import_module(submodule), real_name))


def defer_powertools_packages() -> None:
    for name in POWERTOOLS_PACKAGES:
        defer_package_init(name)
