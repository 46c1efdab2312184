"""Goal progress and commission statements through the API: the plugins' figures, scoped."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from attain.plugins.goals import GoalService
from testkit import Cli

from api.apikit import Api, exact

PLAN = """\
plan: flat-5
effective_from: 2017-01-01
effective_to: 2017-12-31
period: quarter
currency: USD
payees: all
rules:
  - id: base
    type: flat_rate
    rate: 5%
"""


def add_goals(api: Api) -> None:
    svc = GoalService(api.engine, "acme")
    for gid, owner, target in (("ann-q2", "rep:Ann", "2000"), ("cid-q2", "rep:Cid", "4000"),
                               ("meg-q2", "manager:Meg", "5000"), ("acme-q2", "company", "10000")):
        res = svc.add({"id": gid, "metric": "won_revenue", "owner": owner, "period": "2017-Q2",
                       "target": target})
        assert not res.as_dict().get("rejected"), res.as_dict()


def test_goal_progress_is_the_plugins_and_scoped(api: Api) -> None:
    add_goals(api)
    rows = {r["id"]: r for r in exact(api.get("/api/v1/goals/progress?as_of=2017-06-30", "admin").content)}
    assert set(rows) == {"ann-q2", "cid-q2", "meg-q2", "acme-q2"}
    # Q2 won revenue: Ann 1000.50 of 2000; Cid 4000 of 4000; Meg's team 1000.50 (Bob won in July)
    assert rows["ann-q2"]["actual"] == Decimal("1000.50")
    assert rows["ann-q2"]["attainment"] == Decimal("0.5002")   # 1000.50 / 2000 = 0.50025, half-even
    assert rows["cid-q2"]["attainment"] == 1
    assert rows["meg-q2"]["actual"] == Decimal("1000.50")
    cli = Cli(api.url).json("goals", "progress", "--as-of", "2017-06-30", "--tenant", "acme", "--format", "json")
    assert cli == exact(api.get("/api/v1/goals/progress?as_of=2017-06-30", "admin").content)
    ann = exact(api.get("/api/v1/goals/progress?as_of=2017-06-30", "ann").content)
    assert [r["id"] for r in ann] == ["ann-q2"]
    meg = exact(api.get("/api/v1/goals/progress?as_of=2017-06-30", "meg").content)
    assert sorted(r["id"] for r in meg) == ["ann-q2", "meg-q2"]
    assert exact(api.get("/api/v1/goals/progress?as_of=2017-06-30", "g-admin").content) == []


@pytest.fixture
def statements(api: Api, tmp_path: Path) -> Api:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    Cli(api.url)("commission", "run", "--period", "2017-Q2", "--plan", str(plan), "--tenant", "acme")
    return api


def test_statements_list_and_one_reps(statements: Api) -> None:
    api = statements
    rows = {r["rep"]: r for r in exact(api.get("/api/v1/commission/statements?period=2017-Q2", "admin").content)}
    # 5 % of Q2 won revenue, rounded half-even to cents
    assert set(rows) >= {"Ann", "Cid"}
    assert rows["Cid"]["total"] == Decimal("200.00")          # 5 % of 4000
    assert rows["Ann"]["total"] == Decimal("50.02")            # 5 % of 1000.50 = 50.025, half-even
    one = exact(api.get("/api/v1/commission/statements/Ann/2017-Q2", "ann").content)
    assert one["total"] == Decimal("50.02")
    cli = Cli(api.url).json("commission", "statement", "--rep", "Ann", "--period", "2017-Q2",
                            "--tenant", "acme", "--format", "json")
    assert one == cli
    explained = exact(api.get("/api/v1/commission/statements/Ann/2017-Q2/explain", "ann").content)
    assert explained["check"] == {"sum_of_lines": Decimal("50.02"), "equals_total": True}


def test_a_peers_statement_is_not_found(statements: Api) -> None:
    api = statements
    for path in ("/api/v1/commission/statements/Cid/2017-Q2", "/api/v1/commission/statements/Cid/2017-Q2/explain"):
        r = api.get(path, "ann")
        assert r.status_code == 404 and "200" not in r.text
        assert api.get(path, "meg").status_code == 404      # Cid is Ned's
        assert api.get(path, "g-admin").status_code in (404, 409)
    mine = exact(api.get("/api/v1/commission/statements?period=2017-Q2", "ann").content)
    assert [r["rep"] for r in mine] == ["Ann"]
    assert exact(api.get("/api/v1/commission/statements?period=2017-Q2", "g-admin").content) == []


def test_approve_and_sign_off(statements: Api) -> None:
    api = statements
    path = "/api/v1/commission/statements/Ann/2017-Q2"
    assert api.post(path + "/approve", "ann").status_code == 403     # a rep does not approve
    assert api.post(path.replace("Ann", "Cid") + "/approve", "meg").status_code == 404
    assert api.post(path + "/signoff", "ann").status_code == 409     # not approved yet
    r = api.post(path + "/approve", "meg")
    assert r.status_code == 200, r.text
    assert exact(r.content)["status"] == "approved"
    assert api.post(path + "/signoff", "bob").status_code == 404     # not Bob's
    r = api.post(path + "/signoff", "ann")
    assert r.status_code == 200 and exact(r.content)["status"] == "signed_off"
    audit = Cli(api.url)("commission", "audit", "--tenant", "acme", "--format", "json").stdout
    assert "Meg" in audit
