"""The suite's own rules: a missing test server skips its tests on a developer's machine and fails
them on CI (``CI=true``), and on CI any skip at all fails the run (the Kafka broker's part:
tests/streams/test_streams_units.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import missing_server, on_ci

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("value,expected", [
    ("true", True), ("TRUE", True), (" 1 ", True), ("yes", True),
    ("", False), ("false", False), ("0", False), ("no", False),
])
def test_on_ci(value: str, expected: bool) -> None:
    assert on_ci({"CI": value}) is expected
    assert on_ci({}) is False


def test_a_missing_server_fails_on_ci_and_skips_elsewhere() -> None:
    with pytest.raises(pytest.fail.Exception, match="no broker .*CI=true"):
        missing_server("no broker", {"CI": "true"})
    with pytest.raises(pytest.skip.Exception, match="^no broker$"):
        missing_server("no broker", {"CI": ""})


SKIPPING = '''
import pytest

def test_skips():
    pytest.skip("no server here")

def test_passes():
    assert 1 + 1 == 2

@pytest.mark.xfail(reason="known", strict=True)
def test_xfails():
    assert 1 + 1 == 3
'''


@pytest.mark.parametrize("ci,outcome", [("true", "1 failed, 1 passed, 1 xfailed"),
                                        ("", "1 passed, 1 skipped, 1 xfailed")])
def test_on_ci_a_skipped_test_fails_the_run(tmp_path: Path, ci: str, outcome: str) -> None:
    """The suite's conftest hook (testkit.pytest_runtest_makereport) on a throwaway test file:
    the skip is a failure on CI, a skip elsewhere; an expected failure stays what it is."""
    (tmp_path / "conftest.py").write_text("from testkit import pytest_runtest_makereport  # noqa: F401\n")
    (tmp_path / "test_it.py").write_text(SKIPPING)
    env = {**os.environ, "CI": ci, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:cov",
                           "-rfs", str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)
    assert proc.stdout.strip().splitlines()[-1].startswith(outcome), proc.stdout + proc.stderr
    if ci:
        assert "skipped on CI (CI=true), where every test must run: Skipped: no server here" in proc.stdout
