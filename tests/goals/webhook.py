"""A real HTTP server on 127.0.0.1 standing in for a webhook receiver (goals notifications)."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Hook:
    """Records what is POSTed to it and answers 204, except ``/status/NNN`` which answers NNN
    (recorded under :attr:`refused`)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                post = {"path": self.path, "headers": dict(self.headers),
                        "body": json.loads(body, parse_float=Decimal)}
                if self.path.startswith("/status/"):
                    hook.refused.append(post)
                    self.send_response(int(self.path.rsplit("/", 1)[1]))
                    self.end_headers()
                    return
                hook.received.append(post)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def kinds(self) -> list[str]:
        return [r["body"]["kind"] for r in self.received]

    def tenants(self) -> list[str]:
        return [r["body"]["tenant"] for r in self.received]
