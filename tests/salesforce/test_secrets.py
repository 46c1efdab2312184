"""Secrets (client secret, password, security token) and the session token never appear in what
a sync prints, logs or dead-letters: failing logins, a failing API, bad settings, with --debug
off and on (in-process and as a real process)."""

from __future__ import annotations

import logging
import socket
import traceback
from pathlib import Path
from typing import Any

import pytest

from .sfkit import SfCli, attain_subprocess, sf_env


def leaked(secrets: list[str], *texts: str) -> list[str]:
    return [s for s in secrets if any(s in t for t in texts)]


def everything(res: Any, caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = [res.stdout, res.stderr, *(r.getMessage() for r in caplog.records),
             *(str(r.exc_info[1]) for r in caplog.records if r.exc_info)]
    if res.exc_info is not None and res.exception is not None and not isinstance(res.exception, SystemExit):
        texts.append("".join(traceback.format_exception(*res.exc_info)))
    return texts


@pytest.mark.parametrize("debug", [False, True], ids=["quiet", "debug"])
def test_failing_logins_show_no_secret(sqlite_url: str, make_org: Any, cert: Path, small: Any,
                                       caplog: pytest.LogCaptureFixture, debug: bool) -> None:
    caplog.set_level(logging.DEBUG)
    org = make_org(small[1])
    cli = SfCli(sqlite_url)
    flags = ["--debug"] if debug else []
    wrong = {"ATTAIN_SALESFORCE_CLIENT_SECRET": "wrong-Secret-9f8e7d",
             "ATTAIN_SALESFORCE_USERNAME": org.username,
             "ATTAIN_SALESFORCE_PASSWORD": "Pa55word-Leak-Check",
             "ATTAIN_SALESFORCE_SECURITY_TOKEN": "TokenLeakCheck123"}
    secrets = list(wrong.values())[0:1] + ["Pa55word-Leak-Check", "TokenLeakCheck123",
                                           "Pa55word-Leak-CheckTokenLeakCheck123"]
    res = cli(*flags, "sync", "salesforce", "-q", env=sf_env(org, cert, **wrong), ok=False)
    assert res.exit_code != 0
    if not debug:
        assert res.stderr.strip().splitlines() == [
            f"error: Salesforce login failed (password flow, {org.base_url}/services/oauth2/token): "
            "HTTP 400: invalid_grant authentication failure; the sync stopped (what was committed is "
            "kept: run it again to resume)"]
    assert leaked(secrets, *everything(res, caplog)) == []

    # an unreachable login URL, retried: still nothing
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = sf_env(org, cert, ATTAIN_SALESFORCE_LOGIN_URL=f"https://127.0.0.1:{port}",
                 ATTAIN_SALESFORCE_MAX_RETRIES="1", **wrong)
    res = cli(*flags, "sync", "salesforce", "-q", env=env, ok=False)
    assert res.exit_code != 0 and "cannot reach the Salesforce login URL" in (
        res.stderr + str(res.exception))
    assert leaked(secrets, *everything(res, caplog)) == []


def test_a_sync_with_debug_logs_no_secret_nor_session_token(sqlite_url: str, make_org: Any, cert: Path,
                                                            small: Any, caplog: pytest.LogCaptureFixture,
                                                            tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    records = {k: [dict(r) for r in v] for k, v in small[1].items()}
    won = next(o for o in records["Opportunity"] if o["IsWon"])
    won["Amount"] = None  # a won deal without amount: a dead letter
    org = make_org(records)
    org.inject("expired", when=lambda path, q: "FROM Opportunity " in q)
    org.inject("unavailable", when=lambda path, q: "FROM Account" in q)
    secrets_file = tmp_path / "salesforce.yaml"
    secrets_file.write_text(f"client_id: {org.client_id}\nclient_secret: {org.client_secret}\n"
                            f"username: {org.username}\npassword: {org.password}\n"
                            f"security_token: {org.security_token}\n", encoding="utf-8")
    env = sf_env(org, cert, ATTAIN_SALESFORCE_SECRETS_FILE=str(secrets_file))
    for k in ("ATTAIN_SALESFORCE_CLIENT_ID", "ATTAIN_SALESFORCE_CLIENT_SECRET"):
        env.pop(k)
    cli = SfCli(sqlite_url)
    res = cli("--debug", "sync", "salesforce", "-q", env=env)
    dead = cli("deadletter", "list", "--format", "json")
    assert "a won deal needs an amount" in dead.stdout
    assert org.logins == 2  # logged in again after the expired session
    secrets = [org.client_secret, org.password, org.security_token, *org.tokens]
    assert leaked(secrets, *everything(res, caplog), dead.stdout) == []

    # a real process with --debug, its whole standard error
    proc = attain_subprocess(["--db", sqlite_url, "--debug", "sync", "salesforce", "-q", "--full"], env)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "debug: salesforce: logged in" in err
    assert leaked([org.client_secret, org.password, org.security_token, *org.tokens], out, err) == []


def test_bad_settings_name_the_variable_not_the_value(sqlite_url: str, make_org: Any, cert: Path,
                                                      small: Any, tmp_path: Path) -> None:
    org = make_org(small[1])
    cli = SfCli(sqlite_url)
    res = cli("sync", "salesforce", env=sf_env(org, cert, ATTAIN_SALESFORCE_LOGIN_URL="http://x",
                                               ATTAIN_SALESFORCE_API_VERSION="sixty"), ok=False)
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        "error: Salesforce settings: ATTAIN_SALESFORCE_LOGIN_URL Value error, must be an https:// URL "
        "(simple-salesforce speaks HTTPS only); ATTAIN_SALESFORCE_API_VERSION String should match "
        "pattern '^\\d{2,3}\\.\\d$'"]
    res = cli("sync", "salesforce", env=sf_env(org, cert, ATTAIN_SALESFORCE_USERNAME="u@example.com"),
              ok=False)
    assert "the username-password flow needs ATTAIN_SALESFORCE_PASSWORD, " \
        "ATTAIN_SALESFORCE_SECURITY_TOKEN too" in res.stderr
    broken = tmp_path / "s.yaml"
    broken.write_text(f"client_secret: [{org.client_secret}\n", encoding="utf-8")
    env = sf_env(org, cert, ATTAIN_SALESFORCE_SECRETS_FILE=str(broken))
    res = cli("sync", "salesforce", env=env, ok=False)
    assert res.stderr.strip() == f"error: ATTAIN_SALESFORCE_SECRETS_FILE: {broken} is not valid YAML"
    assert org.client_secret not in res.stdout + res.stderr
