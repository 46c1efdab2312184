"""An independent reference implementation of the sample plans in ``examples/plans/``.

Written from the rules' documented semantics (docs/incentives.md), in plain Python over plain
data (deals read straight from the bundled CSV, or events built by hand), without any of the
plugin's code. Each sample plan is a function ``(book, payee, period) -> [Ln]`` giving the
statement lines the plan must produce, in order:

* rules run in plan order; credits are walked in closing order (``closed_on``, then deal id);
* every line is rounded half-even to cents on its own (:func:`r2`); modifiers (decelerator,
  gate, cap) and clawbacks work on the *rounded* lines of earlier rules, per deal;
* a statement's total is the sum of its lines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from .incentives_helpers import SERIES, CsvDeal
from .incentives_helpers import round_half_even_cents as r2

D = Decimal
ZERO = D(0)
HUNDRED = D(100)
#: line kinds that are not commission (not touched by modifiers, not clawed back)
NOT_COMMISSION = {"clawback", "draw", "adjustment"}


# -- data -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deal:
    id: str
    owner: str
    amount: Decimal
    closed: dt.date
    product: str | None = None
    account: str | None = None
    engaged: dt.date | None = None
    #: a later version that is not won: ("lost", its closed_on) or ("reopened", the day it
    #: occurred)
    reversal: tuple[str, dt.date] | None = None

    @property
    def series(self) -> str | None:
        return SERIES.get(self.product or "")


@dataclass(frozen=True)
class Credit:
    deal: Deal
    rep: str
    share: Decimal  # percent
    amount: Decimal


@dataclass(frozen=True)
class Ln:
    """An expected statement line (``tier`` is None where the test does not check it)."""

    rule: str
    kind: str
    deal: str | None
    rep: str | None
    amount: Decimal
    share: Decimal | None = None
    tier: str | None = None
    source_period: str | None = None


@dataclass(frozen=True, order=True)
class Period:
    start: dt.date
    end: dt.date
    key: str

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


def quarters(year: int) -> list[Period]:
    out = []
    for q in range(1, 5):
        start = dt.date(year, 3 * q - 2, 1)
        end = (dt.date(year + 1, 1, 1) if q == 4 else dt.date(year, 3 * q + 1, 1)) \
            - dt.timedelta(days=1)
        out.append(Period(start, end, f"{year}-Q{q}"))
    return out


def months(year: int) -> list[Period]:
    out = []
    for m in range(1, 13):
        start = dt.date(year, m, 1)
        end = (dt.date(year + 1, 1, 1) if m == 12 else dt.date(year, m + 1, 1)) \
            - dt.timedelta(days=1)
        out.append(Period(start, end, f"{year}-{m:02d}"))
    return out


def period_of(day: dt.date, kind: str) -> Period:
    pool = quarters(day.year) if kind == "quarter" else months(day.year)
    return next(p for p in pool if p.contains(day))


def won_deals(csv_deals: Iterable[CsvDeal]) -> list[Deal]:
    """The won deals of the bundled CSV."""
    return [Deal(d.id, d.agent, D(d.value), d.closed, d.product_name, d.account, d.engaged)
            for d in csv_deals if d.stage == "Won" and d.closed is not None]


class Book:
    """Credits (splits applied), the roster and churns: what every plan reads."""

    def __init__(self, deals: Iterable[Deal], roster: dict[str, str],
                 splits: dict[str, dict[str, Decimal]] | None = None,
                 churns: Iterable[tuple[str, dt.date]] = ()) -> None:
        self.deals = {d.id: d for d in deals}
        self.roster = roster  # rep → manager
        self.credits: list[Credit] = []
        for d in self.deals.values():
            for rep, share in (splits or {}).get(d.id, {d.owner: HUNDRED}).items():
                self.credits.append(Credit(d, rep, share, d.amount * share / HUNDRED))
        self.credits.sort(key=lambda c: (c.deal.closed, c.deal.id, c.rep))
        self.churns: dict[str, list[dt.date]] = {}
        for account, day in churns:
            self.churns.setdefault(account, []).append(day)
        first: dict[str, tuple[dt.date, str]] = {}
        for d in self.deals.values():
            if d.account is not None:
                first[d.account] = min(first.get(d.account, (d.closed, d.id)), (d.closed, d.id))
        self.first_of_account = {v[1] for v in first.values()}

    def credits_of(self, rep: str, period: Period) -> list[Credit]:
        return [c for c in self.credits if c.rep == rep and period.contains(c.deal.closed)]

    def team_of(self, manager: str) -> set[str]:
        return {r for r, m in self.roster.items() if m == manager}

    def team_credits(self, manager: str, period: Period) -> list[Credit]:
        team = self.team_of(manager)
        return [c for c in self.credits if c.rep in team and period.contains(c.deal.closed)]

    def deal_type(self, d: Deal) -> str:
        if d.account is None:
            return "unknown"
        return "new" if d.id in self.first_of_account else "existing"


PlanFn = Callable[[Book, str, Period], list[Ln]]


def share_of(c: Credit) -> Decimal | None:
    return None if c.share == HUNDRED else c.share


def reached(credited: Decimal, quota: Decimal, pct: Decimal) -> bool:
    """Attainment ≥ pct percent, compared without division."""
    return credited * HUNDRED >= pct * quota


# -- rule arithmetic ------------------------------------------------------------------------------


def flat(rule: str, credits: Sequence[Credit], rate: Decimal,
         match: Callable[[Credit], bool] | None = None) -> list[Ln]:
    return [Ln(rule, "commission", c.deal.id, c.rep, r2(c.amount * rate), share_of(c))
            for c in credits if match is None or match(c)]


Tier = tuple[Decimal, Decimal | None, Decimal, str | None]  # from money, to money, rate, label


def tiers_of(quota: Decimal, spec: Sequence[tuple[Decimal, Decimal | None, Decimal, str | None]]
             ) -> list[Tier]:
    """(from %, to %, rate, label) of quota → money bounds."""
    return [(quota * lo / HUNDRED, None if hi is None else quota * hi / HUNDRED, rate, label)
            for lo, hi, rate, label in spec]


def marginal(rule: str, kind: str, credits: Sequence[Credit], tiers: Sequence[Tier],
             skip_zero_rate: bool = False) -> list[Ln]:
    """Each credit covers [cumulative before, cumulative after); every tier interval it overlaps
    pays that overlap at the tier's rate (one line per overlapped tier)."""
    out = []
    cum = ZERO
    for c in credits:
        assert c.amount > 0, "the reference handles positive credits only"
        a, b = cum, cum + c.amount
        for lo, hi, rate, label in tiers:
            part = min(b if hi is None else hi, b) - max(lo, a)
            if part > 0 and not (skip_zero_rate and rate == 0):
                out.append(Ln(rule, kind, c.deal.id, c.rep, r2(part * rate), share_of(c), label))
        cum = b
    return out


def retroactive(rule: str, credits: Sequence[Credit], tiers: Sequence[Tier]) -> list[Ln]:
    total = sum((c.amount for c in credits), ZERO)
    _, _, rate, label = [t for t in tiers if total >= t[0]][-1]
    return [Ln(rule, "commission", c.deal.id, c.rep, r2(c.amount * rate), share_of(c), label)
            for c in credits]


def per_deal(lines: Iterable[Ln], rules: set[str] | None = None
             ) -> list[tuple[tuple[str | None, str | None], Decimal]]:
    """Sum of the (rounded) lines per (deal, rep), deals in the order they first appear;
    ``rules`` None = every commission-like line."""
    sums: dict[tuple[str | None, str | None], Decimal] = {}
    for ln in lines:
        if (rules is None and ln.kind not in NOT_COMMISSION) or (rules and ln.rule in rules):
            sums[(ln.deal, ln.rep)] = sums.get((ln.deal, ln.rep), ZERO) + ln.amount
    return list(sums.items())


def decelerator(rule: str, lines: Iterable[Ln], rules: set[str], factor: Decimal) -> list[Ln]:
    return [Ln(rule, "modifier", deal, rep, r2(s * (factor - 1)))
            for (deal, rep), s in per_deal(lines, rules) if s]


def gate(rule: str, lines: Iterable[Ln]) -> list[Ln]:
    return [Ln(rule, "modifier", deal, rep, -s) for (deal, rep), s in per_deal(lines) if s]


def cap(rule: str, lines: Iterable[Ln], per_deal_cap: Decimal | None,
        per_period_cap: Decimal | None) -> list[Ln]:
    out = []
    capped = []
    for (deal, rep), s in per_deal(lines):
        if per_deal_cap is not None and s > per_deal_cap:
            out.append(Ln(rule, "modifier", deal, rep, per_deal_cap - s))
            s = per_deal_cap
        capped.append(((deal, rep), s))
    if per_period_cap is not None:
        paid = ZERO
        for (deal, rep), s in capped:
            assert s >= 0, "the sample plans never have a negative deal sum here"
            pay = min(s, max(per_period_cap - paid, ZERO))
            if pay < s:
                out.append(Ln(rule, "modifier", deal, rep, pay - s))
            paid += pay
    return out


def clawbacks(rule: str, book: Book, payee: str, period: Period, within_days: int,
              won_period_lines: Callable[[Period], list[Ln]], kind: str = "quarter"
              ) -> list[Ln]:
    """A won deal lost, reopened or whose account churned within ``within_days`` of closing:
    in the period when that happens (the earliest such event), a line reversing what the deal
    earned (its commission lines) in the period it was won."""
    out = []
    for c in book.credits:
        if c.rep != payee:
            continue
        d = c.deal
        options = []
        if d.reversal is not None:
            options.append((max(d.reversal[1], d.closed), d.reversal[0]))
        after = sorted(t for t in book.churns.get(d.account or "", []) if t >= d.closed)
        if after:
            options.append((after[0], "churned"))
        options = [o for o in options if (o[0] - d.closed).days <= within_days]
        if not options or not period.contains(min(options)[0]):
            continue
        won = period_of(d.closed, kind)
        paid = sum((ln.amount for ln in won_period_lines(won)
                    if ln.deal == d.id and ln.rep == c.rep and ln.kind not in NOT_COMMISSION),
                   ZERO)
        if paid:
            out.append(Ln(rule, "clawback", d.id, c.rep, -paid, share_of(c),
                          source_period=won.key))
    return out


# -- the sample plans (parameters copied from examples/plans/, with their file named) -------------


def flat_rate_plan(book: Book, payee: str, period: Period) -> list[Ln]:
    """flat-rate.yaml: 4 % of everything, 1 % more on the GTX series, 2 % more on new deals."""
    cs = book.credits_of(payee, period)
    return (flat("base", cs, D("0.04"))
            + flat("gtx-kicker", cs, D("0.01"), lambda c: c.deal.series == "GTX")
            + flat("new-logo", cs, D("0.02"), lambda c: book.deal_type(c.deal) == "new"))


TIERED_QUOTA = {"Darcel Schlecht": D(200000)}  # tiered.yaml's assignment; others 80,000


def tiered_plan(book: Book, payee: str, period: Period, quota: Decimal | None = None
                ) -> list[Ln]:
    """tiered.yaml: marginal tiers 2 / 5 / 8 % (0–50–100 %), +2 % above 120 %, half below 50 %
    (tiers only), nothing below 25 %, caps 1,000 per deal and 20,000 per quarter."""
    quota = quota or TIERED_QUOTA.get(payee, D(80000))
    cs = book.credits_of(payee, period)
    credited = sum((c.amount for c in cs), ZERO)
    lines = marginal("tiers", "commission", cs, tiers_of(quota, [
        (D(0), D(50), D("0.02"), "0-50%"), (D(50), D(100), D("0.05"), "50-100%"),
        (D(100), None, D("0.08"), "100%+")]))
    lines += marginal("accelerator", "commission", cs, tiers_of(quota, [
        (D(0), D(120), D(0), None), (D(120), None, D("0.02"), None)]), skip_zero_rate=True)
    if cs and not reached(credited, quota, D(50)):
        lines += decelerator("decelerator", lines, {"tiers"}, D("0.5"))
    if cs and not reached(credited, quota, D(25)):
        lines += gate("gate", lines)
    lines += cap("cap", lines, D(1000), D(20000))
    return lines


def tiered_retroactive_plan(book: Book, payee: str, period: Period) -> list[Ln]:
    """tiered-retroactive.yaml: everything at 3 %, 5 % or 7 % by the tier reached (60 / 100 %
    of 80,000)."""
    cs = book.credits_of(payee, period)
    if not cs:
        return []
    return retroactive("tiers", cs, tiers_of(D(80000), [
        (D(0), D(60), D("0.03"), "0-60%"), (D(60), D(100), D("0.05"), "60-100%"),
        (D(100), None, D("0.07"), "100%+")]))


def bonuses_plan(book: Book, payee: str, period: Period) -> list[Ln]:
    """bonuses.yaml: 3 % base; 1,000 at 100 % and 1,500 at 125 %; at 150 % a 2,500 bonus and
    1 % on the credit above; 250 per GTX Pro deal closed in 2017-Q3; 1 % on Q4 deals of at
    least 1,000 closed within 30 days of engaging."""
    quota = D(80000)
    cs = book.credits_of(payee, period)
    credited = sum((c.amount for c in cs), ZERO)
    lines = flat("base", cs, D("0.03"))
    if cs:
        for at, amount in ((D(100), D(1000)), (D(125), D(1500))):
            if reached(credited, quota, at):
                lines.append(Ln("milestones", "bonus", None, None, amount))
        if reached(credited, quota, D(150)):
            lines.append(Ln("stretch", "bonus", None, None, D(2500)))
            lines += marginal("stretch", "bonus", cs, tiers_of(quota, [
                (D(0), D(150), D(0), None), (D(150), None, D("0.01"), None)]),
                skip_zero_rate=True)
    summer = (dt.date(2017, 7, 1), dt.date(2017, 9, 30))
    lines += [Ln("gtx-pro-summer", "bonus", c.deal.id, c.rep, r2(D(250) * c.share / HUNDRED),
                 share_of(c)) for c in cs
              if summer[0] <= c.deal.closed <= summer[1] and c.deal.product == "GTX Pro"]
    q4 = (dt.date(2017, 10, 1), dt.date(2017, 12, 31))
    lines += [Ln("fast-close", "bonus", c.deal.id, c.rep, r2(c.amount * D("0.01")), share_of(c))
              for c in cs if q4[0] <= c.deal.closed <= q4[1] and c.deal.amount >= 1000
              and c.deal.engaged is not None and (c.deal.closed - c.deal.engaged).days <= 30]
    return lines


SPLITS = {"1C1I7A6R": {"Moses Frase": D(60), "Darcel Schlecht": D(40)},
          "Z063OYW0": {"Darcel Schlecht": D(50), "Moses Frase": D(25), "Anna Snelling": D(25)}}


def splits_overrides_plan(book: Book, payee: str, period: Period) -> list[Ln]:
    """splits-overrides.yaml (its SPLITS in the book): 5 % of credited revenue; managers get
    0.5 % / 1 % marginal on the team's credits, tiered on the team quota (80,000 per rep)."""
    lines = flat("base", book.credits_of(payee, period), D("0.05"))
    team = book.team_credits(payee, period)
    if team:
        quota = D(80000) * len(book.team_of(payee))
        lines += marginal("override", "override", team, tiers_of(quota, [
            (D(0), D(100), D("0.005"), "0-100%"), (D(100), None, D("0.01"), "100%+")]))
    return lines


def json_plan(book: Book, payee: str, period: Period) -> list[Ln]:
    """plan.json: 5 % of credited revenue, capped at 15,000 per quarter."""
    lines = flat("base", book.credits_of(payee, period), D("0.05"))
    return lines + cap("cap", lines, None, D(15000))


def clawbacks_plan(book: Book, payee: str, period: Period) -> list[Ln]:
    """clawbacks.yaml: 4 % up to the 80,000 quota, 6 % above (marginal); a deal lost, reopened
    or churned within 90 days of closing is reversed in the period when that happens."""

    def tiers(p: Period) -> list[Ln]:
        return marginal("base", "commission", book.credits_of(payee, p), tiers_of(D(80000), [
            (D(0), D(100), D("0.04"), "0-100%"), (D(100), None, D("0.06"), "100%+")]))

    return tiers(period) + clawbacks("clawback", book, payee, period, 90, tiers)


def draw_plan(recoverable: bool) -> Callable[[Book, str, Sequence[Period]], dict[str, list[Ln]]]:
    """draws.yaml / draws-nonrecoverable.yaml (monthly): 5 % of credited revenue, topped up to
    1,500 a month; a recoverable draw's top-ups form a balance recovered from later months'
    earnings above 1,500. The balance starts on 2017-01-01 (the plan's effective_from)."""

    def statements(book: Book, payee: str, periods: Sequence[Period]) -> dict[str, list[Ln]]:
        out = {}
        balance = ZERO
        for p in sorted(periods):
            lines = flat("base", book.credits_of(payee, p), D("0.05"))
            earned = sum((ln.amount for ln in lines), ZERO)
            if earned < 1500:
                lines.append(Ln("draw", "draw", None, None, D(1500) - earned))
                if recoverable:
                    balance += D(1500) - earned
            elif recoverable and balance > 0:
                recover = min(balance, earned - D(1500))
                if recover:
                    lines.append(Ln("draw", "draw", None, None, -recover))
                    balance -= recover
            out[p.key] = lines
        return out

    return statements
