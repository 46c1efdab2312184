"""crm_salesforce passes the connector contract suite (attain.testing.contract) against the
mock org: every 40th opportunity of the bundled data set (all stages) with synthetic leads,
tasks and events, 200 records per query page (several transactions: the interruption points).

The sync is the command's own (SalesforceSync into an EngineSink over the suite's engine); a
deletion is what the org reports, ``IsDeleted = true`` with a newer ``SystemModstamp``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from attain.core import Engine, Result
from attain.plugins.crm_salesforce.client import SalesforceClient
from attain.plugins.crm_salesforce.config import load_settings
from attain.plugins.crm_salesforce.mapping import Mapping
from attain.plugins.crm_salesforce.sinks import EngineSink
from attain.plugins.crm_salesforce.sync import SalesforceSync
from attain.testing.contract import ConnectorContract

from . import fixtures
from .mock_server import MockSalesforce
from .sfkit import BUNDLED, sf_env

SF_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"


@dataclass
class OrgSource:
    org: MockSalesforce
    env: dict[str, str]


@pytest.fixture(scope="module")
def sample_records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    folder = fixtures.subset(BUNDLED, tmp_path_factory.mktemp("contract"),
                             keep=lambda i, r: i % 40 == 0)
    return fixtures.build(folder, synthetic=True)


class TestSalesforceContract(ConnectorContract):
    incremental = True

    @pytest.fixture(autouse=True)
    def _mock_org(self, make_org: Callable[..., MockSalesforce], cert: Path,
                  sample_records: dict[str, list[dict[str, Any]]],
                  monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # requests reads it per request
        self._make_org, self._cert, self._records = make_org, cert, sample_records

    @pytest.fixture
    def attain_plugins_under_test(self) -> dict[str, object]:
        from attain.plugins import crm_salesforce

        return {"crm_salesforce": crm_salesforce}

    def make_source(self, directory: Path) -> OrgSource:
        org = self._make_org(self._records)
        return OrgSource(org, sf_env(org, self._cert, ATTAIN_SALESFORCE_BATCH_SIZE="200"))

    def delete_record(self, source: OrgSource) -> str:
        opps = source.org.data["Opportunity"]
        won = next(o for o in opps if o["IsWon"] and not o.get("IsDeleted"))
        latest = max(dt.datetime.strptime(o["SystemModstamp"], SF_FORMAT) for o in opps)
        source.org.put("Opportunity", {**won, "IsDeleted": True, "SystemModstamp": (
            latest + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")})
        return str(won["Id"])

    def secrets(self, source: OrgSource) -> list[str]:
        return [source.org.client_secret, *source.org.tokens]

    def broken_source(self, source: OrgSource) -> OrgSource:
        return OrgSource(source.org, {**source.env, "ATTAIN_SALESFORCE_USERNAME": source.org.username,
                                      "ATTAIN_SALESFORCE_PASSWORD": source.org.password + "-wrong",
                                      "ATTAIN_SALESFORCE_SECURITY_TOKEN": source.org.security_token,
                                      "ATTAIN_SALESFORCE_MAX_RETRIES": "0"})

    def sync(self, engine: Engine, source: OrgSource) -> Result:
        settings = load_settings(source.env)
        sink = EngineSink(engine, self.tenant)
        SalesforceSync(SalesforceClient(settings), Mapping(), self.tenant, engine.store.engine, sink,
                       dt.timedelta(seconds=settings.lookback_seconds)).run()
        return sink.result
