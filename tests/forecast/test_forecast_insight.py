"""`attain forecast insight`: performers with a small-sample guard, bottlenecks and segments,
checked against the bundled CSV."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from decimal import Decimal

from forecast.helpers import DATA, CsvDeal, ForecastCli

D = Decimal


def wilson(won: int, n: int) -> tuple[float, float]:
    z = 1.959963984540054
    p = won / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_win_rate_performers_are_guarded(ro_cli: ForecastCli, csv_deals: list[CsvDeal]) -> None:
    r = ro_cli.json("forecast", "insight", "--min-deals", "100", "--format", "json")["performers"]
    closed: dict[str, list[CsvDeal]] = defaultdict(list)
    for d in csv_deals:
        if d.stage in ("Won", "Lost"):
            closed[d.rep].append(d)
    company = sum(1 for ds in closed.values() for d in ds if d.stage == "Won") / sum(
        len(ds) for ds in closed.values())
    top, under = set(), set()
    for rep, ds in closed.items():
        if len(ds) < 100:
            continue
        lo, hi = wilson(sum(1 for d in ds if d.stage == "Won"), len(ds))
        if lo > company:
            top.add(rep)
        elif hi < company:
            under.add(rep)
    assert {x["rep"] for x in r["metrics"]["win_rate"]["top"]} == top
    assert {x["rep"] for x in r["metrics"]["win_rate"]["under"]} == under
    assert set(r["too_few"]) == {rep for rep, ds in closed.items() if len(ds) < 100} | (
        {d.rep for d in csv_deals} - set(closed))
    # a rep with few deals is never ranked on any metric, however good their figures look
    for metric in r["metrics"].values():
        for side in ("top", "under"):
            assert all(x["deals"] >= 100 for x in metric[side])


def test_segments_and_bottlenecks(ro_cli: ForecastCli, csv_deals: list[CsvDeal]) -> None:
    r = ro_cli.json("forecast", "insight", "--format", "json")
    with (DATA / "accounts.csv").open(newline="", encoding="utf-8-sig") as f:
        sector = {a["account"]: a["sector"] for a in csv.DictReader(f)}
    rows = {s["segment"]: s for s in r["segments"]["segments"]}
    by: dict[str, list[CsvDeal]] = defaultdict(list)
    for d in csv_deals:
        if d.stage in ("Won", "Lost"):
            by[sector.get(d.account, "")].append(d)
    for name, ds in by.items():
        if name not in rows:
            continue
        won = [d for d in ds if d.stage == "Won"]
        assert rows[name]["won"] == len(won)
        assert rows[name]["revenue"] == sum((d.amount for d in won), D(0))
        assert rows[name]["win_rate"] == (D(len(won)) / D(len(ds))).quantize(D("0.0001"))
    assert sum(s["revenue"] for s in rows.values()) == sum(
        (d.amount for d in csv_deals if d.stage == "Won"), D(0))
    best = min(rows.values(), key=lambda s: (s["score"], s["segment"]))
    assert r["segments"]["icp"] == best["segment"]
    b = r["bottlenecks"]
    for t in b["teams"]:
        gaps = {k: t[k] - b["company"][k] for k in b["company"]}
        worst = min(gaps, key=lambda k: gaps[k])
        assert t["bottleneck"] == (worst if gaps[worst] < 0 else None)
