"""The read routes: the figures of the hand-made data (tests/api/apikit.py), equal to the CLI's,
scoped by the token's tenant and role."""

from __future__ import annotations

from decimal import Decimal

from testkit import Cli

from api.apikit import Api, exact


def by_key(rows: list[dict]) -> dict:
    return {r["key"]: r for r in rows}


def test_kpis_are_the_rows_of_attain_kpi_json(api: Api) -> None:
    for by in ("rep", "region", "manager", "all", "product", "quarter"):
        got = api.get(f"/api/v1/kpis?by={by}", "admin")
        assert got.status_code == 200, got.text
        assert exact(got.content) == Cli(api.url).kpis(by, "acme"), by


def test_kpis_by_rep_hand_figures(api: Api) -> None:
    rows = by_key(exact(api.get("/api/v1/kpis?by=rep", "admin").content))
    assert set(rows) == {"Ann", "Bob", "Cid"}
    # Ann: won A1 (1000.50); open A2 (500). Bob: won B1 (250), lost B2. Cid: won C1; open C2, C3.
    assert rows["Ann"]["won_revenue"] == Decimal("1000.50") and rows["Ann"]["won_deals"] == 1
    assert rows["Ann"]["pipeline_value"] == 500 and rows["Ann"]["open_deals"] == 1
    assert rows["Bob"]["won_revenue"] == 250 and rows["Bob"]["lost_deals"] == 1
    assert rows["Bob"]["win_rate"] == Decimal("0.5")
    assert rows["Cid"]["won_revenue"] == 4000 and rows["Cid"]["pipeline_value"] == 800
    assert rows["Cid"]["open_deals"] == 2


def test_kpis_of_a_period_count_the_deals_closed_in_it(api: Api) -> None:
    rows = by_key(exact(api.get("/api/v1/kpis?by=rep&period=2017-Q2", "admin").content))
    # Q2 2017: A1 (May 10), B2 lost (May 20), C1 (May 3); B1 closed in July is out; open deals
    # have no closing day, so no pipeline in a period.
    assert rows["Ann"]["won_revenue"] == Decimal("1000.50")
    assert rows["Bob"]["won_revenue"] == 0 and rows["Bob"]["lost_deals"] == 1
    assert rows["Cid"]["won_revenue"] == 4000
    assert all(r["open_deals"] == 0 for r in rows.values())
    july = by_key(exact(api.get("/api/v1/kpis?by=rep&period=2017-07", "admin").content))
    assert july["Bob"]["won_revenue"] == 250 and set(july) == {"Bob"}


def test_a_rep_sees_only_their_own_figures(api: Api) -> None:
    rows = exact(api.get("/api/v1/kpis?by=rep", "ann").content)
    assert [r["key"] for r in rows] == ["Ann"]
    assert rows[0]["won_revenue"] == Decimal("1000.50")
    region = by_key(exact(api.get("/api/v1/kpis?by=region", "ann").content))
    # East is Ann and Bob; Ann's token counts Ann's deals only: 1000.50, not 1250.50
    assert set(region) == {"East"} and region["East"]["won_revenue"] == Decimal("1000.50")
    company = exact(api.get("/api/v1/kpis?by=all", "bob").content)
    assert company[0]["won_revenue"] == 250 and company[0]["lost_deals"] == 1


def test_a_manager_sees_their_team(api: Api) -> None:
    rows = by_key(exact(api.get("/api/v1/kpis?by=rep", "meg").content))
    assert set(rows) == {"Ann", "Bob"}
    team = exact(api.get("/api/v1/kpis?by=manager", "meg").content)
    assert [(r["key"], r["won_revenue"]) for r in team] == [("Meg", Decimal("1250.50"))]
    assert [r["key"] for r in exact(api.get("/api/v1/kpis?by=rep", "ned").content)] == ["Cid"]
    assert [r["name"] for r in exact(api.get("/api/v1/reps", "meg").content)] == ["Ann", "Bob"]


def test_the_tenant_is_the_tokens(api: Api) -> None:
    rows = exact(api.get("/api/v1/kpis?by=rep", "g-admin").content)
    assert [(r["key"], r["won_revenue"]) for r in rows] == [("Zed", 99999)]
    # a tenant in the query is not a parameter: it changes nothing
    again = exact(api.get("/api/v1/kpis?by=rep&tenant=acme", "g-admin").content)
    assert again == rows


def test_funnel_counts_open_deals_per_stage(api: Api) -> None:
    rows = {r["stage"]: r for r in exact(api.get("/api/v1/funnel", "admin").content)}
    # open: A2 Engaging 500, C2 Prospecting 700, C3 Engaging 100
    assert rows["Engaging"]["open_deals"] == 2 and rows["Engaging"]["value"] == 600
    assert rows["Prospecting"]["open_deals"] == 1 and rows["Prospecting"]["value"] == 700
    assert rows["Engaging"]["bottleneck"] and not rows["Prospecting"]["bottleneck"]
    mine = exact(api.get("/api/v1/funnel", "ann").content)
    assert [(r["stage"], r["open_deals"]) for r in mine] == [("Engaging", 1)]


def test_unauthenticated_and_invalid_tokens_get_401(api: Api) -> None:
    assert api.client.get("/api/v1/kpis").status_code == 401
    for bad in ("nope", api.tokens["admin"] + "x", api.tokens["admin"][:-2] + "AA"):
        r = api.client.get("/api/v1/kpis", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert bad not in r.text
    r = api.client.get("/api/v1/kpis", headers={"Authorization": f"Basic {api.tokens['admin']}"})
    assert r.status_code == 401


def test_a_service_token_only_publishes(api: Api) -> None:
    for path in ("/api/v1/kpis", "/api/v1/funnel", "/api/v1/goals/progress", "/api/v1/deadletters",
                 "/api/v1/commission/statements", "/api/v1/plugins", "/api/v1/reps"):
        r = api.get(path, "service")
        assert r.status_code == 403, (path, r.text)


def test_dead_letters_and_plugins_are_for_admins(api: Api) -> None:
    r = api.post("/api/v1/events", "service", content=b'{"type": "deal", "event_id": "x"}\n')
    assert r.status_code == 200 and exact(r.content)["rejected"] == 1
    rows = exact(api.get("/api/v1/deadletters", "admin").content)
    assert [(r["source"], r["payload"]) for r in rows] == [("api:1", '{"type": "deal", "event_id": "x"}')]
    assert "deal_id: Field required" in rows[0]["reason"]
    assert exact(api.get("/api/v1/deadletters", "g-admin").content) == []
    for who in ("meg", "ann"):
        assert api.get("/api/v1/deadletters", who).status_code == 403
        assert api.get("/api/v1/plugins", who).status_code == 403
    names = {p["name"] for p in exact(api.get("/api/v1/plugins", "admin").content)}
    assert {"core", "goals", "incentives", "api"} <= names


def test_bad_query_parameters_are_4xx_with_a_message(api: Api) -> None:
    r = api.get("/api/v1/kpis?by=planet", "admin")
    assert r.status_code == 422 and "unknown grouping 'planet'" in r.json()["detail"]
    r = api.get("/api/v1/kpis?period=2017-Q9", "admin")
    assert r.status_code == 422 and "2017-Q9" in r.json()["detail"]
    r = api.get("/api/v1/goals/progress?as_of=yesterday", "admin")
    assert r.status_code == 422 and "not a date" in r.json()["detail"]
    r = api.get("/api/v1/deadletters?limit=-1", "admin")
    assert r.status_code == 422 and "limit" in r.json()["detail"]


def test_composite_groupings_are_the_rows_of_attain_kpi_json(api: Api) -> None:
    for by in ("rep,quarter", "region,month", "manager,quarter", "quarter,rep", "product,year"):
        got = api.get(f"/api/v1/kpis?by={by}", "admin")
        assert got.status_code == 200, got.text
        assert exact(got.content) == Cli(api.url).kpis(by, "acme"), by


def quarter_of(day: str | None) -> str | None:
    return None if day is None else f"{day[:4]}-Q{(int(day[5:7]) - 1) // 3 + 1}"


def rep_quarter_figures(events: list[dict]) -> dict[tuple, tuple]:
    """(rep, quarter of closing or None for open deals) → (won revenue, won, lost, open deals,
    pipeline), summed in plain Python over the data set's deal events (one version each)."""
    out: dict[tuple, list] = {}
    for e in events:
        row = out.setdefault((e["owner"], quarter_of(e["closed_on"])), [Decimal(0), 0, 0, 0, Decimal(0)])
        amount = Decimal(e["amount"])
        if e["status"] == "won":
            row[0] += amount
            row[1] += 1
        elif e["status"] == "lost":
            row[2] += 1
        else:
            row[3] += 1
            row[4] += amount
    return {k: tuple(v) for k, v in out.items()}


def figures(rows: list[dict]) -> dict[tuple, tuple]:
    return {tuple(r["key"]): (r["won_revenue"], r["won_deals"], r["lost_deals"], r["open_deals"],
                              r["pipeline_value"]) for r in rows}


def test_kpis_by_rep_and_quarter_hand_figures_and_scope(api: Api) -> None:
    from api.apikit import acme_events

    want = rep_quarter_figures(acme_events())
    # Cid Q2 (C1), Ann Q2 (A1), Bob Q3 (B1) and Q2 (B2 lost); the open deals in the null quarter
    assert set(want) == {("Cid", "2017-Q2"), ("Ann", "2017-Q2"), ("Bob", "2017-Q3"), ("Bob", "2017-Q2"),
                         ("Ann", None), ("Cid", None)}
    rows = exact(api.get("/api/v1/kpis?by=rep,quarter", "admin").content)
    assert figures(rows) == want
    # sorted by won revenue, descending
    assert [r["won_revenue"] for r in rows] == sorted((r["won_revenue"] for r in rows), reverse=True)
    # a rep sees their own groups only, a manager their team's, over their own deals
    for who, reps in (("ann", {"Ann"}), ("bob", {"Bob"}), ("meg", {"Ann", "Bob"}), ("ned", {"Cid"})):
        mine = exact(api.get("/api/v1/kpis?by=rep,quarter", who).content)
        assert figures(mine) == {k: v for k, v in want.items() if k[0] in reps}, who
    # with a period: the deals closed in it only (open deals have no closing day)
    q2 = exact(api.get("/api/v1/kpis?by=rep,quarter&period=2017-Q2", "admin").content)
    assert figures(q2) == {k: v for k, v in want.items() if k[1] == "2017-Q2"}
    # the other tenant's token: its own rows only
    assert [r["key"] for r in exact(api.get("/api/v1/kpis?by=rep,quarter", "g-admin").content)] == [
        ["Zed", "2017-Q2"]]
    for bad, why in (("quarter,month", "more than one time grouping"), ("rep,rep", "twice"),
                     ("rep,planet", "unknown grouping 'planet'")):
        r = api.get(f"/api/v1/kpis?by={bad}", "admin")
        assert r.status_code == 422 and why in r.json()["detail"], (bad, r.text)
