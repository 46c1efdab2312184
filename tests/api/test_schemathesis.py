"""Property-based requests generated from the API's own OpenAPI document (schemathesis): whatever
the parameters and bodies, with an admin's, a rep's or a service token, the API answers with a
4xx and a JSON `detail` or a 200, never a 500; successful JSON answers parse."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.apikit import Api, make_api

# the app over the two-tenant data set in a SQLite file of its own (built when the module is
# collected: schemathesis reads the OpenAPI document to generate the tests)
_DIR = tempfile.mkdtemp(prefix="attain-schemathesis-")
_APIS: Iterator[Api] = make_api(f"sqlite:///{_DIR}/api.db")
API = next(_APIS)
schema = schemathesis.openapi.from_asgi("/openapi.json", API.client.app)


@pytest.fixture(scope="module", autouse=True)
def _close() -> Iterator[None]:
    yield
    next(_APIS, None)  # closes the client and the store
    shutil.rmtree(_DIR, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_a_server_error(case: Any) -> None:
    hypo_api = API
    if case.path == "/api/v1/stream":  # an endless response: tests/api/test_stream.py
        return
    for who in ("admin", "ann", "service"):
        response = case.call(headers=hypo_api.auth(who))
        assert response.status_code < 500, (who, case.method, case.path, response.text[:500])
        if response.status_code >= 400:
            assert isinstance(json.loads(response.text)["detail"], str)
        else:
            ctype = response.headers.get("content-type") or [""]
            if (ctype[0] if isinstance(ctype, list) else ctype).startswith("application/json"):
                json.loads(response.text)
