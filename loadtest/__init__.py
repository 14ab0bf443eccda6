"""Load and hostile-input runs against the local stack (`make load`, `make fuzz`)."""

import devstack  # noqa: F401 - puts the layer (analytics_common) on sys.path, as for the stack itself
