"""The local stack: real Postgres and embedded ClickHouse for tests, `make run` and `make bench`.

It reuses the layer's code (`analytics_common`: the endpoint list, the API key format, the clock), so its
folder is made importable here, as in tools/.
"""

import sys
from pathlib import Path

_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "common")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)
