"""Tenant and role isolation over every read route of the API (found in its OpenAPI document, so a
new route is covered): no token of one tenant gets the other's data, no rep token a peer's row
or statement, no manager token a rep outside the team."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from attain.plugins.goals import GoalService
from testkit import Cli

from api.apikit import WHO, Api

PLAN = ("plan: p\neffective_from: 2017-01-01\neffective_to: 2017-12-31\nperiod: quarter\npayees: all\n"
        "rules:\n  - id: base\n    type: flat_rate\n    rate: 5%\n")
REPS = {"acme": {"Ann", "Bob", "Cid"}, "globex": {"Zed"}}
#: names and figures that belong to one tenant only
MARKS = {"acme": ("Ann", "Bob", "Cid", "Meg", "Ned", "4000"), "globex": ("Zed", "Yan", "North", "99999")}


def read_routes(api: Api) -> list[str]:
    paths = api.client.get("/openapi.json").json()["paths"]
    return sorted(p for p, ops in paths.items()
                  if "get" in ops and p.startswith("/api/v1/") and p != "/api/v1/stream")


def requests(api: Api) -> list[str]:
    out = []
    for path in read_routes(api):
        if "{rep}" in path:
            out += [path.replace("{rep}", rep).replace("{period}", "2017-Q2")
                    for reps in REPS.values() for rep in sorted(reps)]
        else:
            out.append(path + ("?as_of=2017-06-30" if "goals" in path else ""))
    out += ["/api/v1/kpis?by=" + by for by in ("all", "manager", "region", "product", "account", "quarter")]
    out += ["/api/v1/kpis?by=rep&period=2017-Q2"]
    out += ["/api/v1/kpis?by=" + by for by in ("rep,quarter", "region,month", "manager,product")]
    out += [f"/api/v1/commission/inquiries?rep={rep}" for reps in REPS.values() for rep in sorted(reps)]
    return out


@pytest.fixture
def full(api: Api, tmp_path: Path) -> Api:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    for tenant in ("acme", "globex"):
        Cli(api.url)("commission", "run", "--period", "2017-Q2", "--plan", str(plan), "--tenant", tenant)
        for rep in sorted(REPS[tenant]):  # an inquiry on every statement, naming its rep
            Cli(api.url)("commission", "inquiry", "open", "--rep", rep, "--period", "2017-Q2",
                         "--text", f"{rep} disputes", "--tenant", tenant)
    for tenant, owners in (("acme", ("rep:Ann", "rep:Bob", "rep:Cid", "manager:Meg", "manager:Ned", "company")),
                           ("globex", ("rep:Zed", "company"))):
        svc = GoalService(api.engine, tenant)
        for owner in owners:
            svc.add({"id": owner.replace(":", "-").lower(), "metric": "won_revenue", "owner": owner,
                     "period": "2017-Q2", "target": "1000"})
    return api


def visible(who: str) -> set[str]:
    tenant, role, rep, manager = WHO[who]
    if role == "rep":
        return {rep or ""}
    if role == "manager":
        return {"Ann", "Bob"} if manager == "Meg" else {"Cid"}
    return REPS[tenant]


def test_every_read_route_is_covered(full: Api) -> None:
    assert {"/api/v1/kpis", "/api/v1/funnel", "/api/v1/trend", "/api/v1/goals/progress",
            "/api/v1/commission/statements", "/api/v1/commission/statements/{rep}/{period}",
            "/api/v1/commission/statements/{rep}/{period}/explain", "/api/v1/deadletters",
            "/api/v1/plugins", "/api/v1/reps", "/api/v1/whoami", "/api/v1/maturity",
            "/api/v1/commission/inquiries",
            "/api/v1/commission/statements/{rep}/{period}/inquiries"} <= set(read_routes(full))


@pytest.mark.parametrize("who", sorted(WHO))
def test_no_token_reads_what_it_may_not(full: Api, who: str) -> None:
    tenant, role, _, _ = WHO[who]
    other = "globex" if tenant == "acme" else "acme"
    peers = REPS[tenant] - visible(who)
    seen: list[tuple[str, int]] = []
    for path in requests(full):
        r = full.get(path, who)
        seen.append((path, r.status_code))
        assert r.status_code < 500, (path, r.text)
        body: Any = r.text
        if r.status_code != 200:  # an error may repeat the name asked for, nothing else
            assert all(m not in body for m in MARKS[other] if m not in path), (path, body)
            continue
        assert role != "service" or path.endswith("/whoami"), (path, body)
        for mark in MARKS[other]:
            assert mark not in body, (who, path, mark)
        for peer in peers:
            assert f'"{peer}"' not in body and f":{peer}" not in body, (who, path, peer)
        if "/statements/" in path:
            rep = path.split("/")[5]
            assert rep in visible(who), (who, path)
    # every token got some answer it may have: a reader reads its own figures
    if role != "service":
        assert ("/api/v1/kpis", 200) in seen
        own = sorted(visible(who))[0]
        assert (f"/api/v1/commission/statements/{own}/2017-Q2", 200) in seen
        assert (f"/api/v1/commission/statements/{own}/2017-Q2/inquiries", 200) in seen
