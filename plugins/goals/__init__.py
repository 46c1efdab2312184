"""The ``goals`` plugin: SMART goals, cascades, pacing, at-risk alerts and quota planning."""
