"""The generated deal events the ingest and stream benchmarks share.

``deal_events(events, versions)``: ``events // versions`` deals, each with ``versions`` snapshots
(Prospecting, Engaging, ..., then Won or Lost), as compact JSON lines; neighbours are swapped every
7 lines so a deal's later version sometimes arrives before its earlier one (stale events).
"""

from __future__ import annotations

import json
import random

STAGES = [("Prospecting", "open"), ("Engaging", "open"), ("Won", "won"), ("Lost", "lost")]
PRODUCTS = ["GTX Basic", "GTX Pro", "MG Special", "MG Advanced", "GTX Plus Pro", "GTX Plus Basic", "GTK 500"]


def deal_events(events: int, versions: int, prefix: str = "d", seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    reps = [f"Rep {i:03d}" for i in range(200)]
    accounts = [f"Account {i:03d}" for i in range(300)]
    lines: list[str] = []
    for d in range(max(1, events // versions)):
        owner, product, account = rng.choice(reps), rng.choice(PRODUCTS), rng.choice(accounts)
        engaged = f"2017-{rng.randint(1, 6):02d}-{rng.randint(1, 28):02d}"
        closed = f"2017-{rng.randint(7, 12):02d}-{rng.randint(1, 28):02d}"
        for v in range(1, versions + 1):
            final = v == versions
            stage, status = STAGES[2 + (d % 2)] if final else STAGES[min(v - 1, 1)]
            ev = {"type": "deal", "event_id": f"{prefix}{d}-v{v}", "deal_id": f"{prefix}{d}",
                  "version": v, "occurred_at": f"{closed if final else engaged}T10:00:00Z",
                  "owner": owner, "account": account, "product": product, "stage": stage,
                  "status": status,
                  "amount": f"{rng.randint(100, 20000)}.50" if status != "open" or v > 1 else None,
                  "engaged_on": engaged if v > 1 else None, "closed_on": closed if final else None}
            lines.append(json.dumps(ev, separators=(",", ":")))
    for i in range(0, len(lines) - 1, 7):  # a later version sometimes arrives first
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    return lines
