"""The local stack: real Postgres and embedded ClickHouse for tests, `make run` and `make bench`.

It reuses the layer's code (`analytics_common`, e.g. the endpoint list), so its folder is made importable here.
"""

import sys
from pathlib import Path

_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "common")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)
