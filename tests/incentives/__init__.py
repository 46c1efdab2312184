"""Tests of the incentives plugin (a package, so its conftest does not shadow tests/conftest.py)."""
