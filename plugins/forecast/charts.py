"""The plan document's charts (matplotlib, the Agg backend: no display), as PNG bytes."""

from __future__ import annotations

import io
from typing import Any

from attain.core import Period, UserError


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _plt() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UserError("the plan document's charts need matplotlib: pip install "
                        "'attain[forecast]'") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def forecast_chart(data: dict[str, Any]) -> bytes:
    """Won revenue per quarter: history (bars) and the forecast with its interval."""
    plt = _plt()
    by_q: dict[str, float] = {}
    for row in data["forecast"]["history"]:
        key = Period.of(Period.parse(row["period"]).start, "quarter").key
        by_q[key] = by_q.get(key, 0.0) + float(row["won_revenue"])
    fc = data["forecast"]["periods"]
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    hist_keys = list(by_q)
    ax.bar(hist_keys, [by_q[k] / 1e6 for k in hist_keys], color="#4c72b0", label="won (actual)")
    keys = [p["period"] for p in fc]
    mid = [float(p["forecast"]) / 1e6 for p in fc]
    lo = [float(p["lower"]) / 1e6 for p in fc]
    hi = [float(p["upper"]) / 1e6 for p in fc]
    ax.bar(keys, mid, color="#dd8452", label=f"forecast ({data['forecast']['model']})")
    ax.errorbar(keys, mid, yerr=[[m - low for m, low in zip(mid, lo, strict=True)],
                                 [h - m for m, h in zip(mid, hi, strict=True)]],
                fmt="none", ecolor="black", capsize=4,
                label=f"{int(float(data['forecast']['interval']) * 100)}% interval")
    top = max([*hi, *(by_q[k] / 1e6 for k in hist_keys)])
    ax.set_ylim(0, top * 1.4)  # room for the legend above the bars
    ax.set_ylabel("won revenue (millions)")
    ax.set_title("Won revenue per quarter: history and forecast")
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    ax.tick_params(axis="x", labelsize=8)
    return _png(fig)


def segments_chart(data: dict[str, Any]) -> bytes:
    """Win rate and average deal size per account segment (the ICP highlighted)."""
    plt = _plt()
    rows = data["segments"]["segments"]
    names = [r["segment"] for r in rows]
    icp = data["segments"]["icp"]
    colors = ["#55a868" if n == icp else "#8c8c8c" for n in names]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(7.5, 3.2))
    a1.barh(names, [float(r["win_rate"]) * 100 for r in rows], color=colors)
    a1.set_xlabel("win rate (%)")
    a1.set_xlim(min(float(r["win_rate"]) for r in rows) * 100 - 3,
                max(float(r["win_rate"]) for r in rows) * 100 + 1)
    a2.barh(names, [float(r["avg_deal_size"]) for r in rows], color=colors)
    a2.set_xlabel("average deal size")
    a2.set_yticklabels([])
    for a in (a1, a2):
        a.tick_params(labelsize=8)
    fig.suptitle(f"Account segments (ICP in green: {icp})", fontsize=10)
    return _png(fig)


def capacity_chart(data: dict[str, Any]) -> bytes:
    """Last year, the target, the expected revenue of the team and the forecast."""
    plt = _plt()
    s = data["summary"]
    labels = [f"{data['base_year']} won", f"{data['year']} target", "expected (capacity)",
              "forecast (time series)"]
    values = [float(s["last_year_revenue"]), float(s["target"]), float(s["expected_revenue"]),
              float(s["forecast_total"])]
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    ax.bar(labels, [v / 1e6 for v in values], color=["#4c72b0", "#c44e52", "#55a868", "#dd8452"])
    for i, v in enumerate(values):
        ax.text(i, v / 1e6, f"{v / 1e6:.2f}M", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("millions")
    ax.set_title("Target against capacity and forecast")
    ax.tick_params(axis="x", labelsize=8)
    return _png(fig)


CHARTS = {"forecast": forecast_chart, "segments": segments_chart, "capacity": capacity_chart}


def render_all(data: dict[str, Any]) -> dict[str, bytes]:
    return {name: f(data) for name, f in CHARTS.items()}
