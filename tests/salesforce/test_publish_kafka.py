"""``attain sync salesforce --publish`` through the real Kafka broker and a real worker gives the
KPIs of the embedded sync; an incremental publish after a delete follows it too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from streams.conftest import kafka_bootstrap, stream  # noqa: F401  (the stream tests' fixtures)
from streams.streamkit import StreamEnv, kpis_of, outcomes

from .sfkit import SfCli, sf_env, sync_json

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.timeout(600),
    pytest.mark.filterwarnings("ignore:read_text is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:open_text is deprecated:DeprecationWarning"),
]


def test_publish_gives_the_embedded_kpis(stream: StreamEnv, make_org: Any, cert: Path,  # noqa: F811
                                         small: Any, tmp_path: Path) -> None:
    records = small[1]
    embedded_url = f"sqlite:///{tmp_path / 'embedded.db'}"
    embedded = SfCli(embedded_url)
    org = make_org(records)
    env = sf_env(org, cert)
    sync_json(embedded, env)

    url = stream.db()
    pub = stream.attain(["--db", url, "sync", "salesforce", "-q", "--publish", "--format", "json"],
                        extra_env=env)
    first = json.loads(pub.stdout)
    published = first["published"]
    assert first["engine"] is None and published == sum(o["events"] for o in first["objects"].values())
    worker = stream.start_worker(url)
    stream.wait("every published event processed", lambda: outcomes(url, "default") >= published)
    assert kpis_of(url, "default") == kpis_of(embedded_url, "default")

    # a deal deleted in the org: an incremental publish takes it out of every KPI
    gone = next(o for o in org.data["Opportunity"] if o["IsWon"])
    org.put("Opportunity", {**gone, "IsDeleted": True, "SystemModstamp": "2018-02-01T10:00:00.000+0000"})
    sync_json(embedded, env)
    pub = stream.attain(["--db", url, "sync", "salesforce", "-q", "--publish", "--format", "json"],
                        extra_env=env)
    second = json.loads(pub.stdout)
    assert second["mode"] == "incremental"
    total = published + second["published"]
    stream.wait("the incremental publish processed", lambda: outcomes(url, "default") >= total)
    assert kpis_of(url, "default") == kpis_of(embedded_url, "default")
    assert worker.stop() == 0
