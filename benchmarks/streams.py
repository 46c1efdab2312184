"""Stream benchmark: throughput and latency of one `attain worker` on a real Kafka broker.

Usage: python benchmarks/streams.py [--events 100000] [--versions 4] [--latency-seconds 15]
                                    [--batch 500] [--worker-log FILE]
       python benchmarks/streams.py --scale-out [--postgres URL] [--events 100000]

Uses $ATTAIN_KAFKA_BOOTSTRAP, or starts a broker with scripts/kafka (on $ATTAIN_KAFKA_PORT) and
stops it afterwards. Every run uses fresh topics (a unique prefix) and a fresh SQLite store.

Measured in the same run, on the same generated deal events (N / versions deals with `versions`
snapshots each, lightly shuffled):

* baseline_events_per_s: a bare aiokafka consumer reads the pre-filled topic and JSON-decodes
  every value (nothing else);
* engine_only_events_per_s: Engine.process on the same events in the worker's batch size, in
  process, no Kafka (the ceiling the store sets);
* faust_only_events_per_s: a bare Faust agent (noack_take, ack, nothing else) on the same topic
  (the ceiling Faust's per-message machinery sets);
* events_per_s: `attain worker` (a subprocess) end to end: from its first committed batch to the
  last event being in the store;
* capacity_events_per_s (= events_per_s): what one `attain worker` does on the backlog, C;
* latency_p50_ms_at_30 / latency_p99_ms_at_30 (and _at_70): new events produced at a steady 30 %
  (then 70 %) of C for --latency-seconds each, every event timed from just before it is sent
  until the first attain.kpi-updates message whose `offsets` cover it arrives;
* ratio_to_faust_only: C / faust_only_events_per_s; ratio_ceiling: engine_only / (engine_only +
  faust_only), the most a worker that does both in one process (one GIL) can reach;
* floor_p99_ms_at_30 / _at_70: the same machine's p99 of the work one event's batch needs before
  its KPI update can exist (`Engine.process` of a linger window's batch, then its KPI round; no
  Kafka), the latency floor in this run's conditions (load_average);
* work_ms_per_event_at_30 / _at_70: the CPU ms per event of that same work (Engine.process and
  the KPI round, batches of one linger window at that rate), and busy_share_at_30 / _at_70: the
  share of one core the worker's own work then needs, rate × (that + Faust's per-message cost,
  1 / faust_only_events_per_s). Near 1, a steady stream at that rate cannot be kept up with in
  linger-window batches: batches grow until their lower cost per event catches up, and the
  events queue for a few of those longer cycles (latency far above the floor);
* machine_busy_at_capacity, machine_busy_at_30 / _at_70: the share of all of the machine's
  cores that was busy while C was measured and during each latency phase (everything: the
  worker's three processes, the broker, this benchmark's producer and consumer; Linux
  /proc/stat). Near 1 the machine itself is the limit;
* kpis_match: the worker's KPIs equal the embedded engine's for every grouping.

The latency phases produce deals of --latency-versions snapshots each (default --versions, the
capacity phase's mix, so "30 % of C" is 30 % of the capacity for the same kind of events; until
2026-12-03 they were one-snapshot deals, each a new won or lost deal, about twice the writer's
work per event of the capacity phase's mix).

Prints one JSON object. Targets: latency_p99_ms_at_30 < 100, latency_p99_ms_at_70 < 250,
ratio_to_faust_only >= 0.6.

--scale-out: two `attain worker` processes (one consumer group) on the topic's four partitions,
against PostgreSQL (a fresh database on the server of --postgres, default
$ATTAIN_TEST_POSTGRES_URL), and, in the same run, one worker alone on a copy of the topic; prints
the throughput of each of the two (events it processed / its busy time), of both together and of
the single worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from deal_events import deal_events  # benchmarks/ (the script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
ATTAIN = [sys.executable, "-m", "attain.core.cli"]


def generate(events: int, versions: int, prefix: str) -> list[bytes]:
    return [line.encode() for line in deal_events(events, versions, prefix, seed=11)]


def items(lines: list[bytes]) -> list[tuple[bytes | None, bytes]]:
    from attain.streams.codec import key_of_line

    out = []
    for line in lines:
        k = key_of_line(line)
        out.append((k.encode() if k else None, line))
    return out


async def bare_consumer(brokers: list[str], topic: str, n: int) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=brokers, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen, started = 0, 0.0
    try:
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for msgs in batches.values():
                if not started:
                    started = time.perf_counter()
                for m in msgs:
                    json.loads(m.value)
                    seen += 1
    finally:
        await consumer.stop()
    return seen / (time.perf_counter() - started)


FAUST_PROBE = r'''
import os, sys, time, faust
from faust.worker import Worker
brokers, topic, n, app_id, datadir, batch = sys.argv[1:7]
n, batch = int(n), int(batch)
app = faust.App(app_id, broker=[f"kafka://{b}" for b in brokers.split(",")], store="memory://",
                web_enabled=False, datadir=datadir, consumer_auto_offset_reset="earliest")
t = app.topic(topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
state = {"n": 0, "t0": 0.0}

@app.agent(t, concurrency=1)
async def probe(stream):
    async for events in stream.noack_take(batch, within=0.05):
        if not state["t0"]:
            state["t0"] = time.perf_counter()
        for e in events:
            e.ack()
        state["n"] += len(events)
        if state["n"] >= n:
            print("RATE", state["n"] / (time.perf_counter() - state["t0"]), flush=True)
            os._exit(0)

Worker(app, loglevel="error", quiet=True, redirect_stdouts=False).execute_from_commandline()
'''


def faust_only(brokers: str, topic: str, n: int, tmp: Path, batch: int) -> float | None:
    proc = subprocess.run([sys.executable, "-c", FAUST_PROBE, brokers, topic, str(n),
                           f"bench-probe-{uuid.uuid4().hex[:8]}", str(tmp / "probe"), str(batch)],
                          capture_output=True, text=True, timeout=600)
    for line in proc.stdout.splitlines():
        if "RATE " in line:  # the worker may have written terminal control codes before it
            return float(line.split("RATE ", 1)[1].split()[0])
    print(proc.stderr[-2000:], file=sys.stderr)
    return None


def engine_only(url: str, lines: list[bytes], batch: int, timed: int) -> float:
    from attain.core.engine import Engine, Record
    from attain.core.store import Store

    engine = Engine(Store(url))
    started = time.perf_counter()
    for i in range(0, timed, batch):
        engine.process([Record(x) for x in lines[i:min(i + batch, timed)]])
    rate = timed / (time.perf_counter() - started)
    for i in range(timed, len(lines), batch):  # the latency phase's events: reference KPIs only
        engine.process([Record(x) for x in lines[i:i + batch]])
    engine.store.dispose()
    return rate


def floor(engine: Any, rate: float, within: float, tag: int, versions: int,
          batches: int = 40) -> tuple[float | None, float]:
    """The work between a batch's arrival and its KPI update, without Kafka: `Engine.process` of
    the batch one linger window collects at ``rate``, then the KPI round for the cells it
    changed (the worker's KpiView), on the store of the same data.

    Returns its p99 wall-clock ms and its CPU ms per event (one thread does all of it here)."""
    from attain.core.engine import Record
    from attain.streams.kpiview import KpiView

    n = max(1, round(rate * within))
    lines = generate(n * batches, versions, f"floor{tag}-")
    view = KpiView(engine.store.engine)
    dims, metrics = engine.dimensions("default"), engine.metrics("default")
    own = [0]  # outcomes of these batches: nobody else writes, so the view reads back only them

    def counts() -> tuple[int, int]:
        return view.store_outcomes("default"), own[0]

    view.changed_rows("default", [], dims, metrics, counts)
    times = []
    cpu = time.process_time()
    for i in range(0, len(lines), n):
        started = time.perf_counter()
        res = engine.process([Record(x) for x in lines[i:i + n]])
        own[0] += res.total
        view.changed_rows("default", [c for _, c in res.changed_cells], dims, metrics, counts)
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 0.99), (time.process_time() - cpu) * 1000 / len(lines)


def outcomes(url: str) -> int:
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            return int(conn.execute(text("SELECT coalesce(sum(value), 0) FROM counters "
                                         "WHERE name LIKE 'attain_events_total%'")).scalar() or 0)
    except Exception:  # the worker has not created the schema yet
        return 0
    finally:
        eng.dispose()


async def latency_run(cfg: Any, lines: list[bytes], rate: float) -> list[float]:
    """Produce at a steady rate; time each event until a KPI update covers its offset."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(cfg.kpi_topic, bootstrap_servers=cfg.brokers, group_id=None,
                                auto_offset_reset="latest", enable_auto_commit=False)
    await consumer.start()
    await consumer.getmany(timeout_ms=200)  # positions resolved before anything is produced
    producer = AIOKafkaProducer(bootstrap_servers=cfg.brokers, acks="all", linger_ms=0)
    await producer.start()
    pending: dict[int, list[tuple[int, float]]] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    total = len(lines)

    async def produce() -> None:
        started = time.perf_counter()
        for i, (key, value) in enumerate(items(lines)):
            ahead = started + i / rate - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)
            sent = time.perf_counter()
            fut = await producer.send(cfg.events_topic, value, key=key)
            fut.add_done_callback(lambda f, t=sent: pending.setdefault(f.result().partition, []).append(
                (f.result().offset, t)))
        await producer.flush()

    async def consume() -> None:
        while len(latencies) < total:
            batches = await consumer.getmany(timeout_ms=500)
            now = time.perf_counter()
            for msgs in batches.values():
                for m in msgs:
                    for p, off in json.loads(m.value).get("offsets", {}).items():
                        waiting = pending.get(int(p), [])
                        keep = []
                        for o, t in waiting:
                            if o <= off:
                                latencies.append((now - t) * 1000)
                            else:
                                keep.append((o, t))
                        pending[int(p)] = keep
        done.set()

    consumer_task = asyncio.create_task(consume())
    await produce()
    try:
        await asyncio.wait_for(done.wait(), timeout=60)
    except TimeoutError:
        print(f"latency: {total - len(latencies)} events never covered by a KPI update", file=sys.stderr)
    consumer_task.cancel()
    await producer.stop()
    await consumer.stop()
    return latencies


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all of the machine's cores so far (Linux ``/proc/stat``)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of all cores that was busy between two :func:`cpu_ticks` (everything on the
    machine: the worker's processes, the broker, this benchmark's producer and consumer)."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 2)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 1)


def worker_env(cfg: Any, bootstrap: str, tmp: Path, batch: int) -> dict[str, str]:
    return {**os.environ, "ATTAIN_KAFKA_BOOTSTRAP": bootstrap, "ATTAIN_KAFKA_TOPIC_PREFIX": cfg.topic_prefix,
            "ATTAIN_FAUST_APP_ID": cfg.app_id, "ATTAIN_FAUST_DATADIR": str(tmp / "faust"),
            "ATTAIN_STREAM_BATCH": str(batch)}


def start_worker(url: str, env: dict[str, str], log: Path, web_port: int | None = None,
                 loglevel: str = "warning") -> subprocess.Popen[bytes]:
    extra = ["--web-port", str(web_port)] if web_port else []
    return subprocess.Popen([*ATTAIN, "--db", url, "worker", "--loglevel", loglevel, *extra], env=env,
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"))


def backlog_rate(url: str, total: int, workers: list[subprocess.Popen[bytes]],
                 log: Path) -> tuple[float, float | None]:
    """Events/s from the first committed batch until ``total`` outcomes are in the store, and
    the share of all cores busy over that same time."""
    first_t, first_n, now = 0.0, 0, 0.0
    ticks = None
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        n = outcomes(url)
        now = time.perf_counter()
        if n and not first_t:
            first_t, first_n = now, n
            ticks = cpu_ticks()
        if n >= total:
            break
        if any(w.poll() is not None for w in workers):
            raise SystemExit("worker died:\n" + log.read_text()[-3000:])
        time.sleep(0.05)
    return (total - first_n) / (now - first_t), busy_share(ticks, cpu_ticks())


def processed(port: int) -> int | None:
    """Events one worker handed to the engine, from its /metrics (either metrics generation)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    old = [ln for ln in text.splitlines() if ln.startswith("attain_stream_events_total")]
    new = [ln for ln in text.splitlines() if ln.startswith("attain_events_total")]
    lines = old or new
    return int(sum(float(ln.rsplit(" ", 1)[1]) for ln in lines)) if lines else None


def kafka_bootstrap() -> tuple[str, bool]:
    bootstrap = os.environ.get("ATTAIN_KAFKA_BOOTSTRAP", "").strip()
    if bootstrap:
        return bootstrap, False
    env = {k: v for k, v in os.environ.items() if k != "ATTAIN_KAFKA_BOOTSTRAP"}
    started = subprocess.run([str(ROOT / "scripts" / "kafka"), "status"], env=env,
                             capture_output=True).returncode != 0
    out = subprocess.run([str(ROOT / "scripts" / "kafka"), "start"], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip().splitlines()[-1], started


def single(args: argparse.Namespace, bootstrap: str, tmp: Path) -> dict[str, Any]:
    """One worker: capacity, then latency at 30 % and 70 % of it; the references in the same run."""
    from attain.core.engine import Engine
    from attain.core.kpi import GROUPINGS
    from attain.core.store import Store
    from attain.streams.admin import ensure_topics
    from attain.streams.publish import produce

    cfg = bench_config(bootstrap, args.batch)
    lines = generate(args.events, args.versions, "d")
    ensure_topics(cfg)
    asyncio.run(produce(cfg, items(lines)))
    baseline = asyncio.run(bare_consumer(cfg.brokers, cfg.events_topic, len(lines)))
    faust_rate = faust_only(bootstrap, cfg.events_topic, len(lines), tmp, args.batch)

    url = f"sqlite:///{tmp / 'stream.db'}"
    log = args.worker_log or tmp / "worker.log"
    worker = start_worker(url, worker_env(cfg, bootstrap, tmp, args.batch), log,
                          loglevel="info" if args.worker_log else "warning")
    try:
        capacity, machine_at_capacity = backlog_rate(url, len(lines), [worker], log)
        time.sleep(1.0)  # let the backlog's KPI updates drain
        phases: dict[int, list[float]] = {}
        machine: dict[int, float | None] = {}  # share of all cores busy during each phase
        live_all: list[bytes] = []
        for share in (30, 70):
            rate = capacity * share / 100
            live = generate(int(rate * args.latency_seconds), args.latency_versions, f"live{share}-")
            live_all += live
            ticks = cpu_ticks()
            phases[share] = asyncio.run(latency_run(cfg, live, rate))
            machine[share] = busy_share(ticks, cpu_ticks())
            time.sleep(1.0)
        deadline = time.monotonic() + 120
        while outcomes(url) < len(lines) + len(live_all) and time.monotonic() < deadline:
            time.sleep(0.1)
        worker.terminate()
        worker.wait(timeout=120)
        embedded_url = f"sqlite:///{tmp / 'embedded.db'}"
        engine_rate = engine_only(embedded_url, lines + live_all, args.batch, len(lines))
        a, b = Engine(Store(embedded_url)), Engine(Store(url))
        match = all(a.kpis("default", g) == b.kpis("default", g) for g in GROUPINGS)
        floors = {share: floor(a, capacity * share / 100, cfg.batch_within, share,
                                args.latency_versions) for share in (30, 70)}
    finally:
        if worker.poll() is None:
            worker.kill()
    out: dict[str, Any] = {
        "events": len(lines),
        "capacity_events_per_s": round(capacity),
        "faust_only_events_per_s": round(faust_rate) if faust_rate else None,
        "ratio_to_faust_only": round(capacity / faust_rate, 3) if faust_rate else None,
        "machine_busy_at_capacity": machine_at_capacity,
    }
    for share, lat in phases.items():
        out[f"latency_rate_per_s_at_{share}"] = round(capacity * share / 100)
        out[f"latency_p50_ms_at_{share}"] = percentile(lat, 0.50)
        out[f"latency_p99_ms_at_{share}"] = percentile(lat, 0.99)
        out[f"latency_events_at_{share}"] = len(lat)
        out[f"floor_p99_ms_at_{share}"] = floors[share][0]
        out[f"machine_busy_at_{share}"] = machine[share]
        # the share of one core the worker's own work needs at this rate, in batches of one
        # linger window: Engine.process + the KPI round per event, and Faust's per-message cost
        work_ms = floors[share][1]
        out[f"work_ms_per_event_at_{share}"] = round(work_ms, 3)
        if faust_rate:
            rate = capacity * share / 100
            out[f"busy_share_at_{share}"] = round(rate * (work_ms / 1000 + 1 / faust_rate), 2)
    out.update({
        "ratio_ceiling": round(engine_rate / (engine_rate + faust_rate), 3) if faust_rate else None,
        "load_average": round(os.getloadavg()[0], 2),
        "kpis_match": match,
        "baseline_events_per_s": round(baseline),
        "engine_only_events_per_s": round(engine_rate),
        "batch": args.batch,
        "partitions": cfg.partitions,
    })
    return out


def scale_out(args: argparse.Namespace, bootstrap: str, tmp: Path) -> dict[str, Any]:
    """Two workers (one group) on four partitions against PostgreSQL; one worker alone on a copy."""
    from attain.core.store import Store
    from attain.streams.admin import ensure_topics
    from attain.streams.publish import produce

    server = args.postgres or os.environ.get("ATTAIN_TEST_POSTGRES_URL", "")
    if not server:
        raise SystemExit("--scale-out needs --postgres URL (or $ATTAIN_TEST_POSTGRES_URL)")
    lines = generate(args.events, args.versions, "d")
    out: dict[str, Any] = {"events": len(lines), "partitions": 4, "batch": args.batch, "store": "postgresql"}
    for n_workers in (1, 2):
        cfg = bench_config(bootstrap, args.batch).with_(partitions=4)
        ensure_topics(cfg)
        asyncio.run(produce(cfg, items(lines)))
        url = fresh_database(server, cfg.app_id.replace("-", "_"))
        Store(url).dispose()  # the schema, before two workers would race to create it
        env = worker_env(cfg, bootstrap, tmp / f"w{n_workers}", args.batch)
        ports = [free_port() for _ in range(n_workers)]
        logs = [tmp / f"worker{n_workers}-{i}.log" for i in range(n_workers)]
        workers = [start_worker(url, env, log, port) for port, log in zip(ports, logs, strict=True)]
        try:
            both, each = watch(url, len(lines), ports, workers, logs)
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(timeout=120)
        if n_workers == 1:
            out["one_worker_events_per_s"] = round(both)
        else:
            out["workers"] = each
            out["both_events_per_s"] = round(both)
            out["speedup"] = round(both / out["one_worker_events_per_s"], 2)
    out["cpus"] = os.cpu_count()
    return out


def watch(url: str, total: int, ports: list[int], workers: list[subprocess.Popen[bytes]],
          logs: list[Path]) -> tuple[float, list[dict[str, Any]]]:
    """Until ``total`` outcomes are in the store: the rate of all workers together, and each
    worker's events and rate (from its /metrics: first to last change of its count)."""
    first: dict[int, tuple[float, int]] = {}
    last: dict[int, tuple[float, int]] = {}
    started, start_n, now = 0.0, 0, 0.0
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        now = time.perf_counter()
        for port in ports:
            n = processed(port)
            if n is None:
                continue
            if n and port not in first:
                first[port] = (now, n)
            if n != last.get(port, (0.0, -1))[1]:
                last[port] = (now, n)
        done = outcomes(url)
        if done and not started:
            started, start_n = now, done
        if done >= total:
            break
        for w, log in zip(workers, logs, strict=True):
            if w.poll() is not None:
                raise SystemExit(f"worker died ({w.returncode}):\n" + log.read_text()[-3000:])
        time.sleep(0.05)
    each: list[dict[str, Any]] = []
    for port in ports:
        (t0, n0), (t1, n1) = first.get(port, (0.0, 0)), last.get(port, (0.0, 0))
        each.append({"events": n1, "events_per_s": round((n1 - n0) / (t1 - t0)) if t1 > t0 else None})
    return (total - start_n) / (now - started), each


def bench_config(bootstrap: str, batch: int) -> Any:
    from attain.streams.config import StreamConfig

    tag = uuid.uuid4().hex[:8]
    return StreamConfig.from_env().with_(bootstrap=bootstrap, topic_prefix=f"bench-{tag}.",
                                         app_id=f"attain-bench-{tag}", batch_size=batch)


def fresh_database(server: str, name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--versions", type=int, default=4)
    ap.add_argument("--latency-seconds", type=float, default=15.0)
    ap.add_argument("--batch", type=int, default=int(os.environ.get("ATTAIN_STREAM_BATCH", "500")))
    ap.add_argument("--scale-out", action="store_true", help="two workers on PostgreSQL")
    ap.add_argument("--postgres", help="a PostgreSQL server URL (a fresh database is created on it)")
    ap.add_argument("--worker-log", type=Path, help="keep the worker's log, at level info (its "
                    "KPI rounds), in this file")
    ap.add_argument("--latency-versions", type=int, help="snapshots per deal of the events the "
                    "latency phases produce (default: --versions, the capacity phase's mix)")
    args = ap.parse_args()
    if args.latency_versions is None:
        args.latency_versions = args.versions
    sys.path.insert(0, str(ROOT))

    bootstrap, started_broker = kafka_bootstrap()
    try:
        with tempfile.TemporaryDirectory(prefix="attain-bench-") as tmpdir:
            run = scale_out if args.scale_out else single
            print(json.dumps(run(args, bootstrap, Path(tmpdir))))
    finally:
        if started_broker:
            subprocess.run([str(ROOT / "scripts" / "kafka"), "stop"], capture_output=True)


if __name__ == "__main__":
    main()
