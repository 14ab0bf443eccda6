"""Shared code of the Platform Analytics API Lambda functions (the CommonLayer)."""
