"""attain tokens create|list|revoke: printed once, only a hash stored, roles checked."""

from __future__ import annotations

import datetime as dt
import json

from attain.core import Store
from attain.plugins.api.tokens import TokenStore, digest, parse_duration
from sqlalchemy import text
from testkit import Cli


def test_create_prints_the_token_once_and_stores_its_hash(cli: Cli) -> None:
    out = cli.json("tokens", "create", "--tenant", "acme", "--role", "rep", "--rep", "Ann",
                   "--expires", "90d", "--format", "json")
    token = out["token"]
    assert token.startswith("attain_") and out["tenant"] == "acme" and out["role"] == "rep"
    assert out["rep"] == "Ann" and out["status"] == "active"
    expires = dt.datetime.fromisoformat(out["expires_at"])
    assert dt.timedelta(days=89) < expires - dt.datetime.fromisoformat(out["created_at"]) <= dt.timedelta(days=90)
    store = Store(cli.db_url)
    try:
        with store.connect() as conn:
            rows = [dict(r) for r in conn.execute(text("SELECT * FROM api_tokens")).mappings()]
        assert len(rows) == 1
        assert token not in json.dumps(rows, default=str)   # the token is nowhere in the table
        assert rows[0]["digest"] == digest(token)
        who = TokenStore(store.engine).verify(token)
        assert who is not None and (who.tenant, who.role, who.rep) == ("acme", "rep", "Ann")
    finally:
        store.dispose()
    listed = cli("tokens", "list", "--tenant", "acme", "--format", "json").stdout
    assert token not in listed and out["id"] in listed


def test_table_output_prints_the_token_alone_on_stdout(cli: Cli) -> None:
    res = cli("tokens", "create", "--tenant", "t1", "--role", "admin")
    assert res.stdout.count("\n") == 1 and res.stdout.startswith("attain_")
    assert "not shown again" in res.stderr


def test_revoke_and_expiry(cli: Cli) -> None:
    out = cli.json("tokens", "create", "--tenant", "acme", "--role", "service", "--format", "json")
    store = Store(cli.db_url)
    try:
        tokens = TokenStore(store.engine)
        assert tokens.verify(out["token"]) is not None
        assert cli("tokens", "revoke", out["id"], "--tenant", "other", ok=False).exit_code == 2
        cli("tokens", "revoke", out["id"], "--tenant", "acme")
        assert tokens.verify(out["token"]) is None
        listed = cli.json("tokens", "list", "--tenant", "acme", "--format", "json")
        assert [r["status"] for r in listed] == ["revoked"]
        expired, _ = tokens.create("acme", "admin", expires=dt.timedelta(seconds=-1))
        assert tokens.verify(expired) is None
    finally:
        store.dispose()


def test_bad_requests_are_one_error_line(cli: Cli) -> None:
    for args, message in ((["--role", "rep"], "needs --rep"), (["--role", "manager"], "needs --manager"),
                          (["--role", "boss"], "unknown role 'boss'"),
                          (["--role", "admin", "--rep", "Ann"], "only for --role rep"),
                          (["--role", "admin", "--expires", "soon"], "not a duration")):
        res = cli("tokens", "create", "--tenant", "acme", *args, ok=False)
        assert res.exit_code == 2 and message in res.stderr, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_durations() -> None:
    assert parse_duration("90d") == dt.timedelta(days=90)
    assert parse_duration("12h") == dt.timedelta(hours=12)
    assert parse_duration("2w") == dt.timedelta(days=14)
    assert parse_duration("7") == dt.timedelta(days=7)
