"""A deal deleted in the source: a ``status: deleted`` snapshot with a higher version. It leaves
every metric (the core's and any plugin's), and since it is an ordinary snapshot, replaying,
duplicating or reordering the deal's events keeps it deleted: an older version arriving after
the delete is stale; a newer one (the deal restored) brings it back."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from attain.core.engine import Engine, Record
from attain.core.kpi import Contributor, Metric
from attain.core.models import DealEvent, parse_event
from pydantic import ValidationError


def deal(version: int, status: str, amount: str | None = None, **kw: Any) -> dict[str, Any]:
    ev = {"type": "deal", "event_id": f"d1:v{version}", "deal_id": "d1", "version": version,
          "occurred_at": f"2017-03-0{version}T10:00:00Z", "owner": "Ann", "product": "GTX Basic",
          "account": "Acme", "stage": status.title(), "status": status,
          "closed_on": "2017-03-05" if status in ("won", "lost") else None, **kw}
    if amount is not None:
        ev["amount"] = amount
    return ev


OPEN, WON, DELETED = deal(1, "open", "500"), deal(2, "won", "1000"), deal(3, "deleted")


def totals(engine: Engine) -> dict[str, Any]:
    rows = engine.kpis("default", "all")
    if not rows:
        return {}
    r = rows[0]
    return {k: r[k] for k in ("won_revenue", "won_deals", "open_deals", "pipeline_value")}


def test_a_deleted_deal_needs_no_amount_and_says_so_in_the_schema() -> None:
    ev = parse_event('{"type":"deal","event_id":"x","occurred_at":"2017-01-01T00:00:00Z",'
                     '"deal_id":"d","version":5,"owner":"a","stage":"Closed Won","status":"deleted"}')
    assert isinstance(ev, DealEvent) and ev.status == "deleted" and ev.amount is None
    with pytest.raises(ValidationError, match="a won deal needs an amount"):
        parse_event('{"type":"deal","event_id":"x","occurred_at":"2017-01-01T00:00:00Z",'
                    '"deal_id":"d","version":5,"owner":"a","stage":"Won","status":"won"}')


def test_a_deleted_snapshot_contributes_to_no_metric_not_even_a_plugins() -> None:
    every_deal = Metric("deals_seen", "counts every snapshot it is given", lambda d: {"n": 1},
                        lambda s: s.get("n"), "count", plugin="p")
    contribute = Contributor([every_deal])
    assert contribute(DealEvent(**WON)) == {"p:n": 1}
    assert contribute(DealEvent(**DELETED)) == {}


def test_delete_leaves_every_kpi_in_any_order(engine: Engine) -> None:
    # Before the delete: the won deal counts (1000 won revenue).
    engine.process([Record(OPEN), Record(WON)])
    assert totals(engine) == {"won_revenue": 1000, "won_deals": 1, "open_deals": 0,
                              "pipeline_value": 0}
    res = engine.process([Record(DELETED)])
    assert res.accepted == 1
    assert totals(engine) == {}  # no cell holds anything: no row at all
    # The older versions arriving again, or late, change nothing: they are not newer.
    res = engine.process([Record(WON), Record(deal(2, "won", "1000") | {"event_id": "late-won"}),
                          Record(deal(1, "open", "700") | {"event_id": "late-open"})])
    assert (res.accepted, res.duplicates, res.stale) == (0, 1, 2)
    assert totals(engine) == {}
    assert [d.status for d in engine.deals("default")] == ["deleted"]
    # Restored in the source (a newer version): it counts again.
    engine.process([Record(deal(4, "won", "1200"))])
    assert totals(engine)["won_revenue"] == 1200


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_every_arrival_order_ends_deleted(make_cli: Any, tmp_path: Any, order: tuple[int, ...]) -> None:
    from attain.core.plugins import get_plugins
    from attain.core.store import Store

    store = Store(f"sqlite:///{tmp_path / 'o.db'}")
    try:
        engine = Engine(store, get_plugins())
        events = [OPEN, WON, DELETED]
        for i in order:  # one batch each: the store, not the batch, decides
            engine.process([Record(events[i])])
        assert totals(engine) == {}
        assert [(d.version, d.status) for d in engine.deals("default")] == [(3, "deleted")]
        engine.rebuild("default")  # recomputed from the stored snapshots: still nothing
        assert totals(engine) == {}
        assert Decimal(0) == sum((Decimal(str(r["won_revenue"])) for r in engine.kpis("default", "rep")),
                                 Decimal(0))
    finally:
        store.dispose()
