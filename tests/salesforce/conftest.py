"""Fixtures of the Salesforce tests: a self-signed certificate, the mock org (a real HTTPS
server on 127.0.0.1), and reference KPIs from ``attain import crm-csv`` of the same data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .certs import self_signed
from .fixtures import build
from .mock_server import MockSalesforce
from .sfkit import BUNDLED, crm_csv_kpis


@pytest.fixture(scope="session")
def cert_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def bundled_records() -> dict[str, list[dict[str, Any]]]:
    """The bundled data set as org records (built once; copy before changing)."""
    return build(BUNDLED)


@pytest.fixture(scope="session")
def bundled_kpis(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """KPIs of every grouping after ``attain import crm-csv`` of the bundled data set."""
    return crm_csv_kpis(BUNDLED, tmp_path_factory.mktemp("crm-csv") / "reference.db")


@pytest.fixture
def make_org(cert_pair: tuple[Path, Path]) -> Iterator[Callable[..., MockSalesforce]]:
    """``make_org(records, **settings)``: a started mock org (stopped after the test)."""
    servers: list[MockSalesforce] = []

    def make(records: dict[str, list[dict[str, Any]]], **kw: Any) -> MockSalesforce:
        data = {k: [dict(r) for r in v] for k, v in records.items()}
        server = MockSalesforce(data, cert_pair[0], cert_pair[1], **kw)
        server.start()
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def cert(cert_pair: tuple[Path, Path]) -> Path:
    return cert_pair[0]


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[dict[str, Any]]],
                                                             dict[str, list[dict[str, Any]]]]:
    """Every 15th opportunity of the bundled data set (all stages, 587 deals): the folder, its
    org records and its crm-csv KPIs."""
    from .fixtures import subset

    folder = subset(BUNDLED, tmp_path_factory.mktemp("small"), keep=lambda i, r: i % 15 == 0)
    return folder, build(folder), crm_csv_kpis(folder, tmp_path_factory.mktemp("small-ref") / "r.db")
