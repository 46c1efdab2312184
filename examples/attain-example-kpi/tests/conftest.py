"""The plugin under test, for the fixtures of Attain's test kit (``attain.testing``, loaded by
pytest through its ``pytest11`` entry point once Attain is installed)."""

import attain_example_kpi
import pytest


@pytest.fixture
def attain_plugins_under_test():
    return {"big_deals": attain_example_kpi}
