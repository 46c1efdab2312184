"""Helpers of the stream tests (imported by conftest.py and the tests; a unique module name)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attain.core.engine import Engine
from attain.core.kpi import GROUPINGS
from attain.core.store import Store
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "core" / "data" / "crm-sales-opportunities"
ATTAIN = [sys.executable, "-m", "attain.core.cli"]
BUNDLED_EVENTS = 23811
POLL = 0.1


def kafka_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ATTAIN_KAFKA_BOOTSTRAP", None)
    return env


def kpis_of(url: str, tenant: str) -> dict[str, list[dict[str, object]]]:
    store = Store(url)
    try:
        engine = Engine(store)
        return {g: engine.kpis(tenant, g) for g in GROUPINGS}
    finally:
        store.dispose()


def run_attain(args: list[str], env: dict[str, str] | None = None, timeout: float = 300,
               check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*ATTAIN, *args], capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"attain {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    stderr_path: Path
    name: str

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, nothing is flushed or committed."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 90) -> int:
        """SIGTERM: Faust's graceful shutdown (finish the batch, commit offsets)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
                raise AssertionError(f"worker {self.name} ignored SIGTERM for {timeout}s:\n"
                                     f"{self.stderr()[-4000:]}") from None
        return self.proc.returncode

    def assignments(self) -> list[list[int]]:
        out = []
        for line in self.stderr().splitlines():
            if "assigned partitions [" in line:
                inner = line.split("assigned partitions [", 1)[1].split("]", 1)[0]
                out.append([int(x) for x in inner.split(",") if x.strip()])
        return out


@dataclass
class StreamEnv:
    bootstrap: str
    tmp: Path
    prefix: str
    app_id: str
    env: dict[str, str]
    workers: list[Worker] = field(default_factory=list)

    def db(self, name: str = "stream") -> str:
        return f"sqlite:///{self.tmp / (name + '.db')}"

    def attain(self, args: list[str], extra_env: dict[str, str] | None = None, **kw: Any
               ) -> subprocess.CompletedProcess[str]:
        return run_attain(args, env={**self.env, **(extra_env or {})}, **kw)

    def publish_async(self, args: list[str], extra_env: dict[str, str] | None = None
                      ) -> subprocess.Popen[str]:
        return subprocess.Popen([*ATTAIN, *args], env={**self.env, **(extra_env or {})},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def start_worker(self, url: str, extra_env: dict[str, str] | None = None,
                     args: list[str] | None = None) -> Worker:
        name = f"w{len(self.workers) + 1}"
        err = self.tmp / f"{name}.stderr"
        out = self.tmp / f"{name}.stdout"
        level = os.environ.get("ATTAIN_TEST_WORKER_LOGLEVEL", "warning")
        proc = subprocess.Popen([*ATTAIN, "--db", url, "worker", "--loglevel", level, *(args or [])],
                                env={**self.env, **(extra_env or {})},
                                stdout=out.open("wb"), stderr=err.open("wb"))
        w = Worker(proc, err, name)
        self.workers.append(w)
        return w

    def wait(self, what: str, cond: Callable[[], bool], timeout: float = 600) -> None:
        """Poll ``cond`` until it holds (a dead worker fails at once). The timeout only bounds a
        hang: a passing wait returns when the condition holds, and CI's loaded machine (three test
        processes on two cores, the workers under coverage) took over 180 s for the bundled data
        on PostgreSQL, which takes 44 s alone."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            for w in self.workers:
                if w.proc.poll() not in (None, 0, -signal.SIGKILL, -signal.SIGTERM):
                    raise AssertionError(f"worker {w.name} died ({w.proc.returncode}) while waiting for "
                                         f"{what}:\n{w.stderr()[-4000:]}")
            time.sleep(POLL)
        logs = "\n".join(f"--- {w.name}\n{w.stderr()[-3000:]}" for w in self.workers)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")


def scalar(url: str, sql: str, **params: Any) -> int:
    store = Store(url, run_migrations=False)
    try:
        with store.engine.connect() as conn:
            return int(conn.execute(text(sql), params).scalar() or 0)
    finally:
        store.dispose()


def events_stored(url: str, tenant: str) -> int:
    """Distinct valid events committed (the event log has one row per event id)."""
    return scalar(url, "SELECT count(*) FROM events WHERE tenant = :t", t=tenant)


def outcomes(url: str, tenant: str) -> int:
    """Every outcome counted so far (accepted + duplicate + stale + rejected)."""
    return scalar(url, "SELECT coalesce(sum(value), 0) FROM counters WHERE tenant = :t "
                       "AND name LIKE 'attain_events_total%'", t=tenant)


def counters(url: str, tenant: str) -> dict[str, int]:
    store = Store(url, run_migrations=False)
    try:
        return store.counters(tenant)
    finally:
        store.dispose()


def read_topic(bootstrap: str, topic: str, idle: float = 3.0, timeout: float = 60) -> list[Any]:
    """Every message of ``topic`` from the beginning (stops after ``idle`` seconds without one)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=int(idle * 1000))
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        for msg in consumer:
            out.append(msg)
            if time.monotonic() > deadline:
                break
    finally:
        consumer.close()
    return out


def list_topics(bootstrap: str) -> set[str]:
    """The names of the cluster's topics."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return set(consumer.topics())
    finally:
        consumer.close()


def bundled_lines(tenant: str = "default") -> list[bytes]:
    """The bundled data set as the JSON Lines the crm-csv connector's events encode to."""
    from attain.core.plugins import get_plugins
    from attain.streams.codec import encode_event

    batch = get_plugins().connectors["crm-csv"].read(str(DATA), tenant)
    return [encode_event(r.payload) for r in batch.records]  # type: ignore[arg-type]


def save_bundled_dimensions(url: str, tenant: str = "default") -> None:
    from attain.core.plugins import get_plugins

    batch = get_plugins().connectors["crm-csv"].read(str(DATA), tenant)
    store = Store(url)
    try:
        Engine(store).save_dimensions(tenant, batch.reps, batch.accounts, batch.products)
    finally:
        store.dispose()


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def event_id(line: bytes) -> str | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data.get("event_id") if isinstance(data, dict) else None


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """partition -> the offset the next message will get (the log end)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        return {tp.partition: o for tp, o in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def commit_group_offsets(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit ``offsets`` for consumer group ``group`` as any other Kafka client could."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        tps = {p: TopicPartition(topic, p) for p in offsets}
        consumer.assign(list(tps.values()))
        consumer.commit({tps[p]: OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})
        got = {p: consumer.committed(tp) for p, tp in tps.items()}
        assert got == offsets, f"committed {offsets}, the broker has {got}"
    finally:
        consumer.close()


def stored_offsets(url: str, group: str, topic: str) -> dict[int, int]:
    store = Store(url, run_migrations=False)
    try:
        return store.stream_offsets(group, topic)
    except Exception:  # the worker has not created the schema yet
        return {}
    finally:
        store.dispose()


def scrape(port: int) -> tuple[str, dict[str, float]]:
    """GET /metrics of a worker: the content type and ``{sample name with labels: value}``."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        ctype = resp.headers.get("Content-Type", "")
        body = resp.read().decode()
    samples: dict[str, float] = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return ctype + "\n" + body, samples


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lines:
    """The standard output of a running command, line by line, read on a thread (so the test can
    wait for a line with a deadline instead of blocking on the pipe)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        import queue
        import threading

        self.proc = proc
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self._queue.put(line.rstrip("\n"))
            self._queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, what: str, cond: Callable[[list[str]], bool], timeout: float = 120) -> list[str]:
        """Collect lines until ``cond(every line so far)`` holds; fails after ``timeout`` seconds
        or when the command ends first."""
        import queue

        deadline = time.monotonic() + timeout
        while not cond(self.seen):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; lines:\n"
                                     + "\n".join(self.seen[-20:]))
            try:
                line = self._queue.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if line is None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"the command ended ({self.proc.wait()}) before {what}; lines:\n"
                                     + "\n".join(self.seen[-20:]) + f"\nstderr:\n{err[-3000:]}")
            self.seen.append(line)
        return self.seen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


#: a plugin whose hooks fail on some events (``install_flaky_plugin``)
FLAKY_PLUGIN = '''
from attain.core import Metric, hookimpl


def _contribute(deal):
    # Only a deal's final snapshot (version 3, Won or Lost): it is contributed exactly once, in
    # the batch that accepts it, and never retracted, so the failures can be counted exactly
    # however the stream is cut into batches.
    if deal.deal_id.endswith("7") and deal.version == 3:
        raise RuntimeError("flaky contribute")
    return {"n": 1}


@hookimpl
def attain_register_metrics(register):
    register(Metric("flaky_deals", "deals, except the ones it fails on", _contribute,
                    lambda s: s.get("n", 0), "count"))


@hookimpl
def attain_event_received(event, tenant):
    if getattr(event, "deal_id", "").endswith("3"):
        raise RuntimeError("flaky hook")
'''


def install_flaky_plugin(root: Path) -> dict[str, str]:
    """A throwaway plugin distribution found through PYTHONPATH (entry point group ``attain``)."""
    root.mkdir()
    (root / "attain_flaky.py").write_text(FLAKY_PLUGIN)
    dist = root / "attain_flaky-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: attain-flaky\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[attain]\nflaky = attain_flaky\n")
    path = os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {"PYTHONPATH": path}
