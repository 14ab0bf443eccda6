"""Operator tools, run from a checkout as `python -m tools.<name>` (never deployed).

They reuse the layer's code (`analytics_common`), so its folder is made importable here.
"""

import sys
from pathlib import Path

_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "common")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)
