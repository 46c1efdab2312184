"""``GET /api/v1/stream`` fed by ``attain.kpi-updates`` (``ATTAIN_API_KPI_UPDATES=1``): events a
stream worker processes reach the API's subscribers as ``kpi`` events, each token getting the
rows of the reps it sees only (the API's data set of tests/api/apikit.py, in the worker's store)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from api.apikit import Api, LiveServer, make_api
from api.test_stream import sse_events
from attain.plugins.api.settings import ApiSettings
from attain.testing.builders import deal

from .streamkit import StreamEnv, outcomes, write_lines

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore:read_text is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:open_text is deprecated:DeprecationWarning"),
]


def published(stream: StreamEnv, name: str, events: list[dict[str, Any]]) -> None:
    path = write_lines(stream.tmp / f"{name}.jsonl", [json.dumps(e).encode() for e in events])
    stream.attain(["publish", str(path)])


def test_the_stream_carries_the_workers_kpi_updates(stream: StreamEnv) -> None:
    url = stream.db()
    settings = ApiSettings(kpi_updates=True, kafka_bootstrap=stream.bootstrap, topic_prefix=stream.prefix,
                           heartbeat=1.0)
    apis: Iterator[Api] = make_api(url, settings)
    api = next(apis)
    try:
        worker = stream.start_worker(url)
        stream.wait("the worker's partitions", lambda: any(worker.assignments()), timeout=120)
        before = outcomes(url, "acme")
        with LiveServer(api.client.app) as live, httpx.Client(base_url=live.url, timeout=60.0) as http:
            with http.stream("GET", "/api/v1/stream", headers=api.auth("ann")) as ann, \
                    http.stream("GET", "/api/v1/stream", headers=api.auth("cid")) as cid, \
                    http.stream("GET", "/api/v1/stream", headers=api.auth("g-admin")) as globex:
                streams = {"ann": sse_events(ann.iter_lines()), "cid": sse_events(cid.iter_lines()),
                           "globex": sse_events(globex.iter_lines())}
                for who, events in streams.items():  # positioned at the topic's end
                    kind, data = next(events)
                    assert kind == "ready" and data["kpi_updates"] is True, (who, data)
                # Ann's deal, then Cid's, through Kafka and the worker (not POST /api/v1/events)
                published(stream, "ann", [{**deal("K1", owner="Ann", status="won", amount="99",
                                                  occurred_at="2017-05-12T10:00:00Z", event_id="k1"),
                                           "tenant": "acme"}])
                stream.wait("Ann's deal processed", lambda: outcomes(url, "acme") >= before + 1)
                kind, data = next(streams["ann"])
                assert kind == "kpi" and data["by"] == "rep"
                assert [(r["key"], r["won_revenue"]) for r in data["rows"]] == [("Ann", Decimal("1099.50"))]
                published(stream, "cid", [{**deal("K2", owner="Cid", status="won", amount="1",
                                                  occurred_at="2017-05-12T10:00:00Z", event_id="k2"),
                                           "tenant": "acme"}])
                # Cid's first update is Cid's own row (Ann's was not sent to Cid's token)
                kind, data = next(streams["cid"])
                assert kind == "kpi" and [(r["key"], r["won_revenue"]) for r in data["rows"]] == [
                    ("Cid", Decimal("4001"))]
                published(stream, "zed", [{**deal("K3", owner="Zed", status="won", amount="1",
                                                  occurred_at="2017-05-12T10:00:00Z", event_id="k3"),
                                           "tenant": "globex"}])
                # the other tenant's admin: its own tenant's row only (nothing of acme came before)
                kind, data = next(streams["globex"])
                assert kind == "kpi" and [(r["key"], r["won_revenue"]) for r in data["rows"]] == [
                    ("Zed", Decimal("100000"))]
        assert worker.stop() == 0
    finally:
        next(apis, None)
