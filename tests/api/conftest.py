"""Fixtures of the API tests: the two-tenant data set of :mod:`apikit` on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.apikit import Api, make_api


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    yield from make_api(db_url)


@pytest.fixture
def sqlite_api(sqlite_url: str) -> Iterator[Api]:
    yield from make_api(sqlite_url)
