"""A local HTTPS server that speaks the Salesforce REST protocol with its documented JSON shapes.

* ``POST /services/oauth2/token``: client-credentials and username-password flows; answers
  ``{"access_token", "instance_url", "token_type", "issued_at", …}`` or ``400 {"error",
  "error_description"}``;
* ``GET /services/data/vXX.X/query/?q=`` and ``/queryAll/?q=``: evaluates the SOQL (see
  soql_eval.py) over the records; ``{"totalSize", "done", "nextRecordsUrl", "records"}`` with
  ``attributes`` on every record and relationship; pages of ``Sforce-Query-Options:
  batchSize=N`` (default 2000); ``query`` leaves out ``IsDeleted = true`` rows, ``queryAll``
  keeps them;
* ``GET /services/data/vXX.X/query/<cursor>``: the next page;
* ``GET /services/data/vXX.X/sobjects/<Object>/describe``: the object's fields;
* errors as ``[{"message", "errorCode"}]``; every API answer has ``Sforce-Limit-Info:
  api-usage=used/total``.

Tests inject faults (:meth:`MockSalesforce.inject`): an expired session (401
INVALID_SESSION_ID), the daily limit (403 REQUEST_LIMIT_EXCEEDED), 503, 429, a connection reset;
and slow it down (``delay``) to kill a client mid-sync.
"""

from __future__ import annotations

import json
import re
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .soql_eval import BoolOp, Compare, Query, SoqlError, matches, parse, sort

API = "/services/data/"

#: object → field → type (what describe lists)
SCHEMA: dict[str, dict[str, str]] = {
    "User": {"Id": "id", "Name": "string", "ManagerId": "reference", "IsActive": "boolean",
             "Division": "string", "SystemModstamp": "datetime"},
    "Account": {"Id": "id", "Name": "string", "Industry": "picklist", "ParentId": "reference",
                "IsDeleted": "boolean", "SystemModstamp": "datetime"},
    "Product2": {"Id": "id", "Name": "string", "Family": "picklist", "IsActive": "boolean",
                 "IsDeleted": "boolean", "SystemModstamp": "datetime"},
    "Pricebook2": {"Id": "id", "Name": "string", "IsStandard": "boolean", "IsActive": "boolean",
                   "SystemModstamp": "datetime"},
    "PricebookEntry": {"Id": "id", "Pricebook2Id": "reference", "Product2Id": "reference",
                       "UnitPrice": "currency", "IsActive": "boolean", "SystemModstamp": "datetime"},
    "OpportunityStage": {"Id": "id", "MasterLabel": "string", "ApiName": "string",
                         "IsClosed": "boolean", "IsWon": "boolean", "SystemModstamp": "datetime"},
    "Opportunity": {"Id": "id", "OwnerId": "reference", "AccountId": "reference",
                    "StageName": "picklist", "IsClosed": "boolean", "IsWon": "boolean",
                    "Amount": "currency", "CloseDate": "date", "CreatedDate": "datetime",
                    "LeadSource": "picklist", "IsDeleted": "boolean", "SystemModstamp": "datetime"},
    "OpportunityLineItem": {"Id": "id", "OpportunityId": "reference", "Product2Id": "reference",
                            "TotalPrice": "currency", "IsDeleted": "boolean",
                            "SystemModstamp": "datetime"},
    "OpportunityHistory": {"Id": "id", "OpportunityId": "reference", "StageName": "picklist",
                           "Amount": "currency", "CloseDate": "date", "CreatedDate": "datetime",
                           "IsDeleted": "boolean", "SystemModstamp": "datetime"},
    "Lead": {"Id": "id", "OwnerId": "reference", "Status": "picklist", "LeadSource": "picklist",
             "CreatedDate": "datetime", "IsConverted": "boolean",
             "ConvertedOpportunityId": "reference", "ConvertedDate": "date", "IsDeleted": "boolean",
             "SystemModstamp": "datetime"},
    "Task": {"Id": "id", "OwnerId": "reference", "WhatId": "reference", "AccountId": "reference",
             "Type": "picklist", "TaskSubtype": "picklist", "ActivityDate": "date",
             "CallDurationInSeconds": "int", "CreatedDate": "datetime", "IsDeleted": "boolean",
             "SystemModstamp": "datetime"},
    "Event": {"Id": "id", "OwnerId": "reference", "WhatId": "reference", "AccountId": "reference",
              "Type": "picklist", "EventSubtype": "picklist", "ActivityDate": "date",
              "ActivityDateTime": "datetime", "DurationInMinutes": "int", "CreatedDate": "datetime",
              "IsDeleted": "boolean", "SystemModstamp": "datetime"},
}
#: object → relationship name → (lookup field, target object)
RELATIONSHIPS: dict[str, dict[str, tuple[str, str]]] = {
    "User": {"Manager": ("ManagerId", "User")},
    "Account": {"Parent": ("ParentId", "Account")},
    "PricebookEntry": {"Pricebook2": ("Pricebook2Id", "Pricebook2"),
                       "Product2": ("Product2Id", "Product2")},
    "Opportunity": {"Owner": ("OwnerId", "User"), "Account": ("AccountId", "Account")},
    "OpportunityLineItem": {"Product2": ("Product2Id", "Product2"),
                            "Opportunity": ("OpportunityId", "Opportunity")},
    "OpportunityHistory": {"Opportunity": ("OpportunityId", "Opportunity")},
    "Lead": {"Owner": ("OwnerId", "User")},
    "Task": {"Owner": ("OwnerId", "User"), "Account": ("AccountId", "Account")},
    "Event": {"Owner": ("OwnerId", "User"), "Account": ("AccountId", "Account")},
}

FAULTS = {
    "expired": (401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
    "rate_limit": (403, [{"message": "TotalRequests Limit exceeded.",
                          "errorCode": "REQUEST_LIMIT_EXCEEDED"}]),
    "unavailable": (503, [{"message": "Service temporarily unavailable",
                           "errorCode": "SERVER_UNAVAILABLE"}]),
    "too_many": (429, [{"message": "Too many requests", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]),
    "reset": (0, None),
}


@dataclass
class Fault:
    kind: str
    when: Callable[[str, str], bool]  # (path, soql: for a next page, its query's) → applies?
    times: int


@dataclass
class Call:
    method: str
    path: str
    soql: str | None
    status: int


@dataclass
class _Cursor:
    soql: str
    sobject: str
    records: list[dict[str, Any]]
    size: int


@dataclass
class MockSalesforce:
    """The server's state; :meth:`start` serves it on 127.0.0.1 over HTTPS."""

    data: dict[str, list[dict[str, Any]]]
    cert: Path
    key: Path
    client_id: str = "attain-test-client"
    client_secret: str = "s3cr3t-client-value"
    username: str = "sync@example.com"
    password: str = "pa55-word-value"
    security_token: str = "t0ken-value-xyz"
    api_total: int = 1_000_000
    api_used: int = 0
    delay: float = 0.0  # seconds before every API answer (a slow org)
    schema: dict[str, dict[str, str]] = field(default_factory=lambda: {k: dict(v) for k, v in SCHEMA.items()})
    calls: list[Call] = field(default_factory=list)
    logins: int = 0
    faults: list[Fault] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    lock: threading.RLock = field(default_factory=threading.RLock)
    cursors: dict[str, _Cursor] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _indexes: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    base_url: str = ""

    # -- control -------------------------------------------------------------------------------

    def start(self) -> str:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.base_url = f"https://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, name="mock-salesforce", daemon=True).start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def inject(self, kind: str, times: int = 1, when: Callable[[str, str], bool] | None = None) -> None:
        """Answer the next ``times`` matching API calls with the fault ``kind`` (see FAULTS)."""
        assert kind in FAULTS, kind
        with self.lock:
            self.faults.append(Fault(kind, when or (lambda p, q: True), times))

    def expire_sessions(self) -> None:
        with self.lock:
            self.tokens.clear()

    def by_id(self, sobject: str) -> dict[str, dict[str, Any]]:
        return {str(r["Id"]): r for r in self.data.get(sobject, [])}

    def put(self, sobject: str, record: dict[str, Any]) -> None:
        """Add ``record``, or replace the record with its Id (a change in the org)."""
        with self.lock:
            rows = self.data.setdefault(sobject, [])
            for i, r in enumerate(rows):
                if r["Id"] == record["Id"]:
                    rows[i] = record
                    break
            else:
                rows.append(record)
            self._indexes.clear()

    def remove(self, sobject: str, record_id: str) -> dict[str, Any]:
        """Take a record out of the org entirely (to add it back later: a late-arriving row)."""
        with self.lock:
            rows = self.data[sobject]
            i = next(i for i, r in enumerate(rows) if r["Id"] == record_id)
            self._indexes.clear()
            return rows.pop(i)

    # -- SOQL ----------------------------------------------------------------------------------

    def resolver(self, sobject: str) -> Callable[[dict[str, Any], tuple[str, ...]], Any]:
        index: dict[str, dict[str, dict[str, Any]]] = {}

        def resolve(record: dict[str, Any], path: tuple[str, ...], obj: str = sobject) -> Any:
            if len(path) == 1:
                return record.get(path[0])
            lookup, target = RELATIONSHIPS[obj][path[0]]
            if target not in index:
                index[target] = self.by_id(target)
            sub = index[target].get(str(record.get(lookup)))
            return None if sub is None else resolve(sub, path[1:], target)

        return resolve

    def check(self, q: Query) -> None:
        fields = self.schema.get(q.sobject)
        if fields is None:
            raise _ApiFail(400, "INVALID_TYPE", f"sObject type '{q.sobject}' is not supported.")
        paths = list(q.fields) + [o.path for o in q.order_by]
        stack = [q.where]
        while stack:
            node = stack.pop()
            if node is None:
                continue
            if hasattr(node, "parts"):
                stack.extend(node.parts)
            elif hasattr(node, "part"):
                stack.append(node.part)
            else:
                paths.append(node.path)
        for p in paths:
            obj = q.sobject
            for rel in p[:-1]:
                if rel not in RELATIONSHIPS.get(obj, {}):
                    raise _ApiFail(400, "INVALID_FIELD", f"Didn't understand relationship '{rel}' "
                                   f"in field path. No such column on entity '{obj}'")
                obj = RELATIONSHIPS[obj][rel][1]
            if p[-1] not in self.schema.get(obj, {}):
                raise _ApiFail(400, "INVALID_FIELD", f"No such column '{p[-1]}' on entity '{obj}'.")

    def candidates(self, q: Query) -> list[dict[str, Any]]:
        """The rows that may match: all of them, or (for ``Field IN ('a', …)``, alone or in an
        AND) those with one of the values, found through an index (the answer is the same, only
        faster: the condition is still evaluated on each)."""
        rows = self.data.get(q.sobject, [])
        parts = q.where.parts if isinstance(q.where, BoolOp) and q.where.op == "AND" else (q.where,)
        for c in parts:
            if isinstance(c, Compare) and c.op == "IN" and len(c.path) == 1 \
                    and all(isinstance(v, str) for v in c.value):
                index = self._indexes.get((q.sobject, c.path[0]))
                if index is None:  # change records through put/remove, which clear the indexes
                    index = {}
                    for r in rows:
                        index.setdefault(str(r.get(c.path[0])), []).append(r)
                    self._indexes[(q.sobject, c.path[0])] = index
                wanted = dict.fromkeys(c.value)
                picked = {id(r): r for v in wanted for r in index.get(v, [])}
                return [r for r in rows if id(r) in picked]
        return rows

    def shape(self, sobject: str, record: dict[str, Any], paths: tuple[tuple[str, ...], ...],
              index: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": {"type": sobject,
                                              "url": f"{API}v60.0/sobjects/{sobject}/{record.get('Id')}"}}
        for p in paths:
            if len(p) == 1:
                out[p[0]] = record.get(p[0])
                continue
            node, obj, rec = out, sobject, record
            for rel in p[:-1]:
                lookup, target = RELATIONSHIPS[obj][rel]
                if target not in index:
                    index[target] = self.by_id(target)
                sub = index[target].get(str(rec.get(lookup))) if rec is not None else None
                if sub is None:
                    node[rel] = None
                    break
                child = node.get(rel) or {"attributes": {"type": target,
                                                         "url": f"{API}v60.0/sobjects/{target}/{sub['Id']}"}}
                node[rel] = child
                node, obj, rec = child, target, sub
            else:
                node[p[-1]] = rec.get(p[-1]) if rec is not None else None
        return out

    def run_query(self, text: str, include_deleted: bool, size: int) -> dict[str, Any]:
        try:
            q = parse(text)
        except SoqlError as exc:
            raise _ApiFail(400, "MALFORMED_QUERY", str(exc)) from None
        self.check(q)
        resolve = self.resolver(q.sobject)
        with self.lock:
            rows = [r for r in self.candidates(q)
                    if (include_deleted or not r.get("IsDeleted")) and matches(q.where, r, resolve)]
        rows = sort(rows, q.order_by, resolve)
        if q.limit is not None:
            rows = rows[:q.limit]
        index: dict[str, dict[str, dict[str, Any]]] = {}
        shaped = [self.shape(q.sobject, r, q.fields, index) for r in rows]
        cursor = "01g" + secrets.token_hex(6)
        self.cursors[cursor] = _Cursor(text, q.sobject, shaped, size)
        return self.page(cursor, 0)

    def page(self, cursor: str, start: int) -> dict[str, Any]:
        c = self.cursors.get(cursor)
        if c is None:
            raise _ApiFail(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        chunk = c.records[start:start + c.size]
        end = start + len(chunk)
        out: dict[str, Any] = {"totalSize": len(c.records), "done": end >= len(c.records),
                               "records": chunk}
        if end < len(c.records):
            out["nextRecordsUrl"] = f"{API}v60.0/query/{cursor}-{end}"
        return out


_DECIMAL = re.compile(r'"@@dec:([-0-9.E+]+)@@"')


def _json(body: Any) -> bytes:
    """JSON with Decimal values written as exact JSON numbers (as Salesforce writes currency)."""
    text = json.dumps(body, default=lambda v: f"@@dec:{v}@@" if isinstance(v, Decimal) else str(v),
                      separators=(",", ":"))
    return _DECIMAL.sub(r"\1", text).encode()


class _ApiFail(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _handler(sf: MockSalesforce) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = _json(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            if urllib.parse.urlsplit(self.path).path != "/services/oauth2/token":
                self._send(404, [{"message": "not found", "errorCode": "NOT_FOUND"}])
                return
            grant = form.get("grant_type")
            ok = form.get("client_id") == sf.client_id and form.get("client_secret") == sf.client_secret
            if grant == "password":
                ok = ok and form.get("username") == sf.username and \
                    form.get("password") == sf.password + sf.security_token
            elif grant != "client_credentials":
                ok = False
            if not ok:
                self._send(400, {"error": "invalid_grant" if grant == "password" else "invalid_client",
                                 "error_description": "authentication failure"})
                return
            token = "00D" + secrets.token_hex(16)
            with sf.lock:
                sf.tokens.add(token)
                sf.logins += 1
            self._send(200, {"access_token": token, "instance_url": sf.base_url,
                             "id": f"{sf.base_url}/id/00D000000000001/005000000000001",
                             "token_type": "Bearer", "issued_at": str(int(time.time() * 1000)),
                             "signature": "mock"})

        def do_GET(self) -> None:  # noqa: N802
            url = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(url.query))
            soql = params.get("q", "")
            if not soql and "/query/" in url.path:  # a next page: the query it continues
                c = sf.cursors.get(url.path.rsplit("/", 1)[1].partition("-")[0])
                soql = c.soql if c is not None else ""
            status = 200
            try:
                if sf.delay:
                    time.sleep(sf.delay)
                with sf.lock:
                    fault = next((f for f in sf.faults if f.times > 0 and f.when(url.path, soql)), None)
                    if fault is not None:
                        fault.times -= 1
                if fault is not None and fault.kind == "reset":
                    status = 0
                    self.connection.close()
                    self.close_connection = True
                    return
                if fault is not None and fault.kind == "expired":
                    sf.expire_sessions()
                auth = self.headers.get("Authorization", "")
                if not auth.startswith("Bearer ") or auth[7:] not in sf.tokens:
                    raise _ApiFail(401, "INVALID_SESSION_ID", "Session expired or invalid")
                if fault is not None:
                    code, body = FAULTS[fault.kind]
                    raise _ApiFail(code, body[0]["errorCode"], body[0]["message"])
                body = self._api(url.path, params)
                with sf.lock:
                    sf.api_used += 1
                    used = sf.api_used
                self._send(200, body, {"Sforce-Limit-Info": f"api-usage={used}/{sf.api_total}"})
            except _ApiFail as exc:
                status = exc.status
                self._send(exc.status, [{"message": exc.message, "errorCode": exc.code}],
                           {"Sforce-Limit-Info": f"api-usage={sf.api_used}/{sf.api_total}"})
            finally:
                with sf.lock:
                    sf.calls.append(Call("GET", url.path, soql or None, status))

        def _api(self, path: str, params: dict[str, str]) -> Any:
            if not path.startswith(API + "v"):
                raise _ApiFail(404, "NOT_FOUND", "The requested resource does not exist")
            rest = path[len(API):].split("/", 1)[1].strip("/")
            size = 2000
            opts = self.headers.get("Sforce-Query-Options", "")
            if opts.startswith("batchSize="):
                size = max(200, min(2000, int(opts.split("=", 1)[1])))
            if rest in ("query", "queryAll"):
                return sf.run_query(params.get("q", ""), rest == "queryAll", size)
            if rest.startswith(("query/", "queryAll/")):
                cursor, _, start = rest.split("/", 1)[1].partition("-")
                return sf.page(cursor, int(start or 0))
            parts = rest.split("/")
            if len(parts) == 3 and parts[0] == "sobjects" and parts[2] == "describe":
                fields = sf.schema.get(parts[1])
                if fields is None:
                    raise _ApiFail(404, "NOT_FOUND", "The requested resource does not exist")
                return {"name": parts[1], "fields": [{"name": n, "type": t} for n, t in fields.items()]}
            raise _ApiFail(404, "NOT_FOUND", "The requested resource does not exist")

    return Handler
