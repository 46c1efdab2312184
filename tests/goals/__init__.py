"""Tests of the goals plugin (a package, so its conftest never shadows another)."""
