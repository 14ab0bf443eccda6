"""Load and hostile-input runs against the local stack (`make load`, `make fuzz`)."""
