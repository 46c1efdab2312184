"""``Metric(reads_core=True)``: a plugin's figure computed from the core's components (the
public way for a plugin not to contribute copies of them), on every read path."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from attain.core.engine import Engine, Record
from attain.core.kpi import Metric, quantize
from attain.core.models import DealEvent
from attain.core.plugins import Plugins, hookimpl
from attain.core.store import Store

ZERO = Decimal(0)


def nothing(event: DealEvent) -> dict[str, int]:
    return {}


def own(event: DealEvent) -> dict[str, int]:
    return {"seen": 1}


def share_of_closed(s: Any) -> Decimal | None:
    closed = s.get("core:won", ZERO) + s.get("core:lost", ZERO)
    return None if closed == 0 else quantize(s.get("core:won", ZERO) / closed, 4)


def sees_no_core(s: Any) -> Decimal:
    assert not any(k.startswith("core:") for k in s), s  # only metrics that ask get them
    return s.get("seen", ZERO)


class Reader:
    @hookimpl
    def attain_register_metrics(self, register: Any) -> None:
        register(Metric("won_share", "core won ÷ core closed", nothing, share_of_closed,
                        "ratio", reads_core=True))
        register(Metric("snapshots", "deals seen", own, sees_no_core, "count"))


def events(n: int = 300) -> list[dict[str, Any]]:
    rnd = random.Random(5)
    out = []
    for i in range(n):
        status = rnd.choice(["open", "won", "lost"])
        day = f"2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        out.append({"type": "deal", "event_id": f"e{i}", "deal_id": f"d{i}", "version": 1,
                    "occurred_at": f"{day}T10:00:00Z", "owner": f"Rep {i % 7}",
                    "product": f"P{i % 3}", "stage": status, "status": status,
                    "amount": None if status == "open" else str(rnd.randint(1, 9000)),
                    "engaged_on": day, "closed_on": None if status == "open" else day})
    return out


def test_a_metric_reading_the_core_gets_its_components_on_every_read_path(store: Store) -> None:
    plugins = Plugins(load_entry_points=False)
    plugins.register(Reader(), "reader")
    engine = Engine(store, plugins)
    evs = events()
    assert engine.process([Record(e) for e in evs]).accepted == len(evs)
    for grouping, period in (("rep", None), ("rep", "2024-Q2"), ("rep,product", None),
                             ("product", "2024"), ("all", None)):
        rows = engine.kpis("default", grouping, period=period)
        assert rows and not plugins.errors
        for r in rows:
            # the same figure as the core's own win rate, from the same components
            assert r["won_share"] == r["win_rate"], (grouping, period, r)
            assert r["snapshots"] == r["won_deals"] + r["lost_deals"] + (
                r["open_deals"] if period is None else 0)


def test_asking_for_the_core_components_changes_the_signature(store: Store) -> None:
    """The same plugin, metric names and versions, one metric now reading the core's
    components: the stored roll-ups (built without them in mind) are rebuilt."""
    class Plain:
        @hookimpl
        def attain_register_metrics(self, register: Any) -> None:
            register(Metric("won_share", "x", nothing, share_of_closed, "ratio"))
            register(Metric("snapshots", "deals seen", own, sees_no_core, "count"))

    with_core, plain = Plugins(load_entry_points=False), Plugins(load_entry_points=False)
    with_core.register(Reader(), "reader")
    plain.register(Plain(), "reader")
    assert sorted(with_core.metrics) == sorted(plain.metrics)
    assert Engine(store, with_core).signature() != Engine(store, plain).signature()
