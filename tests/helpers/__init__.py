"""Helpers shared by the unit and the integration tests (never a test module)."""
