"""Fixtures of the stream tests: a real Kafka broker, real worker subprocesses, SQLite stores.

* ``kafka_bootstrap`` (session): ``$ATTAIN_KAFKA_BOOTSTRAP`` if set (scripts/test sets it), else
  ``scripts/kafka start`` on ``$ATTAIN_KAFKA_PORT`` (the script's default port otherwise), stopped
  again at the end of the session if this fixture started it. Without either (no Java), the Kafka
  tests are skipped on a developer's machine and fail on CI (``CI=true``).
* ``stream`` (per test): a unique topic prefix and Faust app id, so tests never see each other's
  messages or consumer groups; helpers (streamkit.py) run ``attain`` commands and workers as
  subprocesses and wait by polling the store.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from testkit import missing_server

from .streamkit import DATA, ROOT, StreamEnv, kafka_env, kpis_of, run_attain


def kafka_plan(environ: Mapping[str, str], have_java: bool) -> tuple[str, str]:
    """How the session gets its broker: ``("given", address)`` from ``ATTAIN_KAFKA_BOOTSTRAP``,
    ``("start", "")`` when Java can run ``scripts/kafka``, else ``("missing", why)`` (then the
    Kafka tests skip on a developer's machine and fail on CI: testkit.missing_server)."""
    given = environ.get("ATTAIN_KAFKA_BOOTSTRAP", "").strip()
    if given:
        return "given", given
    if have_java:
        return "start", ""
    return "missing", ("no ATTAIN_KAFKA_BOOTSTRAP and no Java to run scripts/kafka: run "
                       "`scripts/kafka start` and export ATTAIN_KAFKA_BOOTSTRAP with the address it prints")


def have_java() -> bool:
    return shutil.which(os.environ.get("JAVA", "java")) is not None or bool(os.environ.get("JAVA_HOME"))


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    how, detail = kafka_plan(os.environ, have_java())
    if how == "given":
        yield detail
        return
    if how == "missing":
        missing_server(detail)
    status = subprocess.run([str(ROOT / "scripts" / "kafka"), "status"], capture_output=True, text=True,
                            env=kafka_env())
    started = status.returncode != 0
    proc = subprocess.run([str(ROOT / "scripts" / "kafka"), "start"], capture_output=True, text=True,
                          env=kafka_env(), timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"scripts/kafka start failed:\n{proc.stderr[-3000:]}")
    address = proc.stdout.strip().splitlines()[-1]
    try:
        yield address
    finally:
        if started:
            subprocess.run([str(ROOT / "scripts" / "kafka"), "stop"], capture_output=True, env=kafka_env())



@pytest.fixture(scope="session")
def embedded_kpis(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, object]]]:
    """KPIs of the bundled data set imported by the embedded engine (``attain import crm-csv``)."""
    db = tmp_path_factory.mktemp("embedded") / "embedded.db"
    url = f"sqlite:///{db}"
    run_attain(["--db", url, "import", "-q", "crm-csv", str(DATA)])
    return kpis_of(url, "default")



@pytest.fixture
def stream(kafka_bootstrap: str, tmp_path: Path) -> Iterator[StreamEnv]:
    tag = uuid.uuid4().hex[:10]
    env = {
        **os.environ,
        "ATTAIN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ATTAIN_KAFKA_TOPIC_PREFIX": f"test-{tag}.",
        "ATTAIN_FAUST_APP_ID": f"attain-test-{tag}",
        "ATTAIN_FAUST_DATADIR": str(tmp_path / "faust"),
        "ATTAIN_KAFKA_PARTITIONS": "4",
        # A SIGKILLed member is noticed after this long (Kafka's minimum is 6 s).
        "ATTAIN_KAFKA_SESSION_TIMEOUT": "6",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("ATTAIN_DATABASE_URL", None)
    s = StreamEnv(kafka_bootstrap, tmp_path, f"test-{tag}.", f"attain-test-{tag}", env)
    try:
        yield s
    finally:
        for w in s.workers:
            if w.alive():
                w.proc.kill()
                w.proc.wait(timeout=30)


