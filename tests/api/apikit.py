"""Two tenants of hand-made data for the API tests, their tokens and an HTTP client.

``acme``: Meg manages Ann and Bob (East), Ned manages Cid (West).

| deal | owner | status | amount | closed_on |
|---|---|---|---|---|
| A1 | Ann | won | 1000.50 | 2017-05-10 |
| A2 | Ann | open | 500 | — (stage Engaging) |
| B1 | Bob | won | 250 | 2017-07-02 |
| B2 | Bob | lost | 300 | 2017-05-20 |
| C1 | Cid | won | 4000 | 2017-05-03 |
| C2 | Cid | open | 700 | — (stage Prospecting) |
| C3 | Cid | open | 100 | — (stage Engaging) |

``globex``: Zed (manager Yan, North) won G1, 99999 on 2017-05-05.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from attain.core import Engine, Rep, Store, get_plugins
from attain.plugins.api.app import create_app
from attain.plugins.api.settings import ApiSettings
from attain.plugins.api.tokens import TokenStore
from attain.testing.builders import deal
from fastapi.testclient import TestClient

ROSTER = {
    "acme": [Rep(name="Ann", manager="Meg", region="East"), Rep(name="Bob", manager="Meg", region="East"),
             Rep(name="Cid", manager="Ned", region="West")],
    "globex": [Rep(name="Zed", manager="Yan", region="North")],
}


def acme_events() -> list[dict[str, Any]]:
    return [
        deal("A1", owner="Ann", status="won", amount="1000.50", occurred_at="2017-05-10T10:00:00Z",
             event_id="acme-a1"),
        deal("A2", owner="Ann", status="open", amount="500", stage="Engaging", event_id="acme-a2"),
        deal("B1", owner="Bob", status="won", amount="250", occurred_at="2017-07-02T10:00:00Z",
             event_id="acme-b1"),
        deal("B2", owner="Bob", status="lost", amount="300", occurred_at="2017-05-20T10:00:00Z",
             event_id="acme-b2"),
        deal("C1", owner="Cid", status="won", amount="4000", occurred_at="2017-05-03T10:00:00Z",
             event_id="acme-c1"),
        deal("C2", owner="Cid", status="open", amount="700", stage="Prospecting", event_id="acme-c2"),
        deal("C3", owner="Cid", status="open", amount="100", stage="Engaging", event_id="acme-c3"),
    ]


def globex_events() -> list[dict[str, Any]]:
    return [deal("G1", owner="Zed", status="won", amount="99999", occurred_at="2017-05-05T10:00:00Z",
                 event_id="globex-g1")]


def ndjson(events: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(e) + "\n" for e in events).encode()


def exact(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)


@dataclass
class Api:
    """The app over one database, its TestClient and a token per (tenant, role)."""

    url: str
    engine: Engine
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self.auth(who), **kw)

    def post(self, path: str, who: str, **kw: Any) -> Any:
        headers = {**self.auth(who), **kw.pop("headers", {})}
        return self.client.post(path, headers=headers, **kw)


#: who → (tenant, role, rep, manager)
WHO = {
    "admin": ("acme", "admin", None, None),
    "meg": ("acme", "manager", None, "Meg"),
    "ned": ("acme", "manager", None, "Ned"),
    "ann": ("acme", "rep", "Ann", None),
    "bob": ("acme", "rep", "Bob", None),
    "cid": ("acme", "rep", "Cid", None),
    "service": ("acme", "service", None, None),
    "g-admin": ("globex", "admin", None, None),
    "g-zed": ("globex", "rep", "Zed", None),
    "g-service": ("globex", "service", None, None),
}


def seed(engine: Engine) -> None:
    from attain.core import Record

    for tenant, reps in ROSTER.items():
        engine.save_dimensions(tenant, reps=reps)
    engine.process([Record(json.dumps(e)) for e in acme_events()], tenant="acme", default_tenant="acme")
    engine.process([Record(json.dumps(e)) for e in globex_events()], tenant="globex",
                   default_tenant="globex")


def make_api(url: str, settings: ApiSettings | None = None, seeded: bool = True) -> Iterator[Api]:
    store = Store(url)
    engine = Engine(store, get_plugins())
    if seeded:
        seed(engine)
    tokens = TokenStore(store.engine)
    api = Api(url, engine, TestClient(create_app(engine, settings or ApiSettings())))
    for who, (tenant, role, rep, manager) in WHO.items():
        api.tokens[who], _ = tokens.create(tenant, role, rep=rep, manager=manager)
    try:
        yield api
    finally:
        api.client.close()
        store.dispose()


class LiveServer:
    """The app served by a real uvicorn on a free loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        import socket
        import threading

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off",
                                                    timeout_keep_alive=300,  # a busy machine: no idle-close race
                                                    timeout_graceful_shutdown=5))  # a client's open stream
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
