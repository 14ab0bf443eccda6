"""`make bench`: the benchmark dataset (bench.dataset) and runner (bench.run).

Functions are imported the way the tests import them: the layer and every function folder go on
`sys.path`, taken from pytest's `pythonpath` in pyproject.toml (one list for both).
"""

import sys
import tomllib
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
for _entry in tomllib.loads((_ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["pythonpath"]:
    _path = str((_ROOT / _entry).resolve())
    if _path not in sys.path:
        sys.path.append(_path)
