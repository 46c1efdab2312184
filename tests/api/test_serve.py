"""`attain serve` as a real command: two server processes whose metrics add up
(prometheus-client's multiprocess mode), and the token never in the server's output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from testkit import Cli

from api.apikit import seed


def test_two_server_processes_add_up_their_metrics(tmp_path: Path) -> None:
    from attain.core import Engine, Store, get_plugins

    url = f"sqlite:///{tmp_path / 'serve.db'}"
    store = Store(url)
    seed(Engine(store, get_plugins()))
    store.dispose()
    token = Cli(url).json("tokens", "create", "--tenant", "acme", "--role", "admin", "--format", "json")["token"]
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    (tmp_path / "metrics").mkdir()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "attain.core.cli", "--db", url, "serve", "--port", str(port),
                                 "--workers", "2"], stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.5)
        with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
            for _ in range(20):
                assert http.get("/api/v1/funnel").status_code == 200
            text = http.get("/metrics").text
        got = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
        key = ("attain_http_requests_total", (("method", "GET"), ("route", "/api/v1/funnel"), ("status", "200")))
        assert got[key] == 20          # whichever process answered each request
        won = ("attain_kpi", (("grouping", "rep"), ("key", "Cid"), ("metric", "won_revenue"), ("tenant", "acme")))
        assert got[won] == 4000        # the store's value, once
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    assert token not in log.read_text()
