"""Statement inquiries and the maturity assessment through the API: the plugins' own JSON, the
roles of statements, nothing of another tenant or rep."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from testkit import Cli

from api.apikit import Api, exact

PLAN = ("plan: p\neffective_from: 2017-01-01\neffective_to: 2017-12-31\nperiod: quarter\npayees: all\n"
        "rules:\n  - id: base\n    type: flat_rate\n    rate: 5%\n")
ANN = "/api/v1/commission/statements/Ann/2017-Q2"


@pytest.fixture
def statements(api: Api, tmp_path: Path) -> Api:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    for tenant in ("acme", "globex"):
        Cli(api.url)("commission", "run", "--period", "2017-Q2", "--plan", str(plan), "--tenant", tenant)
    return api


def test_a_rep_disputes_a_line_and_their_manager_answers_with_an_adjustment(statements: Api) -> None:
    api = statements
    statement = exact(api.get(ANN, "ann").content)
    assert statement["total"] == Decimal("50.02")  # 5 % of A1's 1000.50 = 50.025, half-even
    r = api.post(ANN + "/inquiries", "ann", json={"text": "A1 was split with Bob", "line": 1})
    assert r.status_code == 201, r.text
    inq = exact(r.content)
    assert (inq["rep"], inq["period"], inq["line"], inq["status"], inq["raised_by"], inq["text"]) == (
        "Ann", "2017-Q2", 1, "open", "Ann", "A1 was split with Bob")
    # the line as it stood (the statement numbers its lines; the inquiry keeps the number apart)
    assert inq["disputed"] == {k: v for k, v in statement["lines"][0].items() if k != "line"}
    # the same rows as the CLI's list, for whoever may read Ann's statement
    cli = Cli(api.url).json("commission", "inquiry", "list", "--tenant", "acme", "--format", "json")
    assert exact(api.get("/api/v1/commission/inquiries", "admin").content) == cli == [inq]
    for who in ("ann", "meg", "admin"):
        assert exact(api.get(ANN + "/inquiries", who).content) == [inq]
        assert exact(api.get("/api/v1/commission/inquiries?status=open", who).content) == [inq]
    for who in ("bob", "cid", "ned", "g-admin"):  # a peer, another team, another tenant: nothing
        assert exact(api.get("/api/v1/commission/inquiries", who).content) == []
    for who in ("bob", "cid", "ned"):
        assert api.get(ANN + "/inquiries", who).status_code == 404
        assert api.post(ANN + "/inquiries", who, json={"text": "x"}).status_code == 404
    assert api.get(ANN + "/inquiries", "g-admin").status_code == 404   # no rep Ann in globex
    assert api.get(ANN + "/inquiries", "service").status_code == 403

    resolve = f"/api/v1/commission/inquiries/{inq['id']}/resolve"
    assert api.post(resolve, "ann", json={"reply": "no"}).status_code == 403   # a rep does not answer
    assert api.post(resolve, "ned", json={"reply": "no"}).status_code == 404   # not Ned's rep
    assert api.post(resolve, "g-admin", json={"reply": "no"}).status_code == 404
    assert api.post(resolve, "meg", json={}).status_code == 422
    assert api.post(resolve, "meg", json={"adjustment": "1.005"}).status_code == 422  # not cents
    r = api.post(resolve, "meg", json={"reply": "half of it is Bob's: +5.00 this quarter",
                                       "adjustment": "5.00"})
    assert r.status_code == 200, r.text
    done = exact(r.content)
    assert (done["status"], done["resolved_by"]) == ("adjusted", "Meg") and done["adjustment_id"]
    # the adjustment is paid in the (open) period: 50.02 + 5.00
    assert exact(api.get(ANN, "ann").content)["total"] == Decimal("55.02")
    assert api.post(resolve, "meg", json={"reply": "again"}).status_code == 409  # already adjusted
    assert exact(api.get("/api/v1/commission/inquiries?status=open", "ann").content) == []


def test_inquiries_need_a_stored_statement_and_a_valid_body(statements: Api) -> None:
    api = statements
    assert api.post("/api/v1/commission/statements/Ann/2017-Q3/inquiries", "ann",
                    json={"text": "where is it?"}).status_code == 404      # no Q3 run
    assert api.post(ANN + "/inquiries", "ann", json={"text": ""}).status_code == 422
    assert api.post(ANN + "/inquiries", "ann", json={"text": "x", "line": 0}).status_code == 422
    lines = len(exact(api.get(ANN, "ann").content)["lines"])
    r = api.post(ANN + "/inquiries", "ann", json={"text": "x", "line": lines + 1})
    assert r.status_code == 409 and f"lines 1–{lines}" in r.json()["detail"]
    r = api.post(ANN + "/inquiries", "admin", json={"text": "on Ann's behalf"})
    assert r.status_code == 201 and exact(r.content)["raised_by"].startswith("token:")
    # an id no database integer holds is refused as a bad request, not a server error (found by
    # schemathesis: SQLite's OverflowError)
    for iid in ("99999999999999999999999", "0", "-1"):
        bad = api.post(f"/api/v1/commission/inquiries/{iid}/resolve", "meg", json={"reply": "no"})
        assert bad.status_code == 422, (iid, bad.text)
    assert exact(r.content)["line"] is None


def test_maturity_is_the_clis_assessment_for_admins_only(api: Api) -> None:
    cli = Cli(api.url)
    for who, tenant in (("admin", "acme"), ("g-admin", "globex")):
        r = api.get("/api/v1/maturity", who)
        assert r.status_code == 200, r.text
        got = exact(r.content)
        want = cli.json("maturity", "assess", "--no-save", "--tenant", tenant, "--format", "json")
        assert got == want and got["tenant"] == tenant
        dated = exact(api.get("/api/v1/maturity?as_of=2017-05-31", who).content)
        assert dated == cli.json("maturity", "assess", "--no-save", "--as-of", "2017-05-31", "--tenant", tenant,
                                 "--format", "json")
        assert dated["as_of"] == "2017-05-31"
    # a read: nothing was stored
    assert cli.json("maturity", "history", "--tenant", "acme", "--format", "json") == []
    for who in ("meg", "ann", "g-zed", "service"):
        assert api.get("/api/v1/maturity", who).status_code == 403
    assert api.get("/api/v1/maturity?as_of=yesterday", "admin").status_code == 422
    assert api.get("/api/v1/maturity?model=nope", "admin").status_code == 422
    assert api.client.get("/api/v1/maturity").status_code == 401
