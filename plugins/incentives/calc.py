"""The commission calculator: pure, in-memory, incremental.

Deals are credited to reps (splits), indexed by rep and month, and every payee's statement for a
period is computed from that index alone: no SQL, no clock. Statements are cached per payee; a
changed deal drops the cache of exactly the payees it can affect (its credited reps, their
managers, and the reps whose deal type flips), so an update recomputes a handful of statements.

The same code serves the ``attain commission`` commands, the live accruals fed by
``attain_event_processed`` and ``benchmarks/commissions.py``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import gc
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from .model import (
    Assignment,
    CompiledRule,
    Credit,
    DealFact,
    Line,
    PlanVersion,
    RuleError,
    StatementResult,
)
from .money import CENT, HUNDRED, ZERO
from .periods import Period, month_key

Resolver = Callable[[str, Period], Assignment | None]
Shares = tuple[tuple[str, Decimal], ...]

NON_COMMISSION = frozenset({"clawback", "draw", "adjustment"})


def _credit_key(c: Credit) -> tuple[dt.date, str, str]:
    return (c.deal.closed_on, c.deal.deal_id, c.rep)


class RuleContext:
    """What a rule's ``compute`` sees for one payee and one period.

    * ``credits`` – credited won deals closed in the period, in closing order (``closed_on``,
      deal id); ``credited`` their sum; ``quota`` the period quota. For a rule that applies to
      managers only (``manager_override``, or any rule with ``role: manager``) these are the
      *team's*: the credits of every rep reporting to the payee, and the team quota.
    * ``own_credits`` / ``team_credits`` – both views, whatever the rule.
    * ``lines`` – the lines of the rules before this one (rounded), for modifiers.
    * ``statement(period)`` – this payee's statement for another period (clawbacks, draws).
    * ``carry`` – values handed to the next period (the draw balance).
    """

    def __init__(self, calc: Calculator, payee: str, period: Period, assignment: Assignment,
                 roles: tuple[str, ...]) -> None:
        self.calc = calc
        self.payee = payee
        self.period = period
        self.assignment = assignment
        self.plan: PlanVersion = assignment.plan
        self.roles = roles
        self.lines: list[Line] = []
        self.carry: dict[str, Decimal] = {}
        self.rule: CompiledRule | None = None
        self.as_manager = False
        self._own: list[Credit] | None = None
        self._own_sum: Decimal | None = None
        self._team: list[Credit] | None = None
        self._team_sum: Decimal | None = None
        self._team_quota: Decimal | None = None
        self._team_quota_done = False

    # -- credits and quota -----------------------------------------------------------------

    @property
    def own_credits(self) -> list[Credit]:
        if self._own is None:
            self._own = self.calc.credits_of(self.payee, self.period)
        return self._own

    @property
    def own_credited(self) -> Decimal:
        if self._own_sum is None:
            self._own_sum = sum((c.amount for c in self.own_credits), ZERO)
        return self._own_sum

    @property
    def own_quota(self) -> Decimal | None:
        q = self.assignment.quota
        return q if q is not None else self.plan.quota

    @property
    def team_credits(self) -> list[Credit]:
        if self._team is None:
            self._team = self.calc.team_credits_of(self.payee, self.period)
        return self._team

    @property
    def team_credited(self) -> Decimal:
        if self._team_sum is None:
            self._team_sum = sum((c.amount for c in self.team_credits), ZERO)
        return self._team_sum

    @property
    def team_quota(self) -> Decimal | None:
        if not self._team_quota_done:
            self._team_quota = self.calc.team_quota(self.payee, self.period, self.assignment)
            self._team_quota_done = True
        return self._team_quota

    @property
    def credits(self) -> list[Credit]:
        return self.team_credits if self.as_manager else self.own_credits

    @property
    def credited(self) -> Decimal:
        return self.team_credited if self.as_manager else self.own_credited

    @property
    def quota(self) -> Decimal | None:
        return self.team_quota if self.as_manager else self.own_quota

    def require_quota(self) -> Decimal:
        q = self.quota
        if q is None or q <= 0:
            who = f"the team of {self.payee}" if self.as_manager else self.payee
            rule = self.rule.id if self.rule else "?"
            raise RuleError(
                f"rule {rule!r} needs a quota but {who} has none for {self.period} "
                f"(set plan 'quota:' or an assignment quota)"
            )
        return q

    def reached(self, threshold_pct: Decimal) -> bool:
        """Whether attainment ≥ ``threshold_pct`` percent, compared exactly (no division)."""
        return self.credited * HUNDRED >= threshold_pct * self.require_quota()

    # -- helpers for rules -----------------------------------------------------------------

    def line(self, exact: Decimal, credit: Credit | None = None, **kw: Any) -> Line:
        """A line for ``credit`` (deal, credited rep and share filled in) with an exact amount."""
        if credit is not None:
            kw.setdefault("deal", credit.deal.deal_id)
            kw.setdefault("rep", credit.rep)
            if credit.share != HUNDRED:
                kw.setdefault("share", credit.share)
        return Line(exact=exact, **kw)

    def deal_type(self, deal: DealFact) -> str:
        return self.calc.deal_type(deal)

    def series_of(self, deal: DealFact) -> str | None:
        return deal.series

    def earlier(self, applies_to: Sequence[str] | None) -> list[Line]:
        """Lines so far from the rules ``applies_to`` (default: every commission-like line)."""
        if applies_to:
            wanted = set(applies_to)
            return [ln for ln in self.lines if ln.rule in wanted]
        return [ln for ln in self.lines if ln.kind not in NON_COMMISSION]

    def statement(self, period: Period) -> StatementResult:
        """This payee's statement for another period (must not be this one)."""
        if period == self.period:
            raise RuleError("a rule asked for the statement it is computing")
        return self.calc.statement(self.payee, period)

    def churn_dates(self, account: str | None) -> list[dt.date]:
        return [] if account is None else self.calc.churns.get(account, [])

    def reversal_candidates(self) -> list[Credit]:
        """Credits of this payee (or of a manager's team) that were later un-won or churned."""
        return self.calc.reversal_candidates(self.payee)


class Calculator:
    """Credits deals to reps and computes statements for any payee and period.

    ``resolver(payee, period)`` says which plan (and quota) pays the payee; ``roster`` maps each
    rep to their manager (managers are payees of ``manager``-role rules).
    """

    def __init__(self, resolver: Resolver, roster: Mapping[str, str | None] | None = None,
                 churns: Iterable[tuple[str, dt.date]] = ()) -> None:
        self.resolve = resolver
        self.manager_of: dict[str, str | None] = dict(roster or {})
        self.team: dict[str, list[str]] = {}
        for rep, mgr in self.manager_of.items():
            if mgr:
                self.team.setdefault(mgr, []).append(rep)
        self.facts: dict[str, DealFact] = {}
        self.splits: dict[str, Shares] = {}
        self.churns: dict[str, list[dt.date]] = {}
        for account, day in churns:
            self.churns.setdefault(account, []).append(day)
        for days in self.churns.values():
            days.sort()
        self._by_deal: dict[str, list[Credit]] = {}
        self._by_rep_month: dict[str, dict[str, list[Credit]]] = {}
        self._reversed: dict[str, dict[str, Credit]] = {}
        self._account_deals: dict[str, set[str]] = {}
        self._first: dict[str, str] = {}
        self._cache: dict[str, dict[Period, StatementResult]] = {}
        #: closing and reversal dates of the deals touched by the last update (the periods
        #: whose statements it may have changed), including deals whose type flipped
        self.last_dates: set[dt.date] = set()

    # -- loading ----------------------------------------------------------------------------

    def load(self, facts: Iterable[DealFact], splits: Mapping[str, Shares] | None = None) -> None:
        """Index every deal at once (the full recompute path)."""
        # Millions of small acyclic objects: the cyclic GC rescanning them would only cost time.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._load(facts, splits)
        finally:
            if was_enabled:
                gc.enable()

    def _load(self, facts: Iterable[DealFact], splits: Mapping[str, Shares] | None) -> None:
        self.splits = dict(splits or {})
        self._cache.clear()
        by_rep_month = self._by_rep_month
        by_deal = self._by_deal
        account_deals = self._account_deals
        for f in facts:
            self.facts[f.deal_id] = f
            credits = self._credit(f)
            by_deal[f.deal_id] = credits
            mk = month_key(f.closed_on)
            for c in credits:
                months = by_rep_month.get(c.rep)
                if months is None:
                    months = by_rep_month[c.rep] = {}
                bucket = months.get(mk)
                if bucket is None:
                    months[mk] = [c]
                else:
                    bucket.append(c)
                if f.reversed_on is not None:
                    self._reversed.setdefault(c.rep, {})[f.deal_id] = c
            if f.account is not None:
                s = account_deals.get(f.account)
                if s is None:
                    account_deals[f.account] = {f.deal_id}
                else:
                    s.add(f.deal_id)
        for account in account_deals:
            self._refresh_first(account)
        for months in by_rep_month.values():  # buckets are kept in closing order
            for bucket in months.values():
                bucket.sort(key=_credit_key)

    def _credit(self, f: DealFact) -> list[Credit]:
        shares = self.splits.get(f.deal_id)
        if not shares:
            return [Credit(f, f.owner, HUNDRED, f.amount)]
        return [Credit(f, rep, pct, f.amount * pct / HUNDRED) for rep, pct in shares]

    def _refresh_first(self, account: str) -> str | None:
        ids = self._account_deals.get(account)
        if not ids:
            self._first.pop(account, None)
            return None
        facts = self.facts
        first = min(ids, key=lambda d: (facts[d].closed_on, d))
        self._first[account] = first
        return first

    # -- incremental updates ----------------------------------------------------------------

    def upsert_deal(self, fact: DealFact) -> set[str]:
        """Add or replace a deal's fact; returns the payees whose statements may have changed
        (and sets :attr:`last_dates`)."""
        self.last_dates = set()
        dirty = self._unindex(fact.deal_id)
        self.facts[fact.deal_id] = fact
        credits = self._credit(fact)
        self._by_deal[fact.deal_id] = credits
        mk = month_key(fact.closed_on)
        self._touch(fact)
        for c in credits:
            bisect.insort(self._by_rep_month.setdefault(c.rep, {}).setdefault(mk, []), c,
                          key=_credit_key)
            if fact.reversed_on is not None:
                self._reversed.setdefault(c.rep, {})[fact.deal_id] = c
            dirty.add(c.rep)
        if fact.account is not None:
            old_first = self._first.get(fact.account)
            self._account_deals.setdefault(fact.account, set()).add(fact.deal_id)
            new_first = self._refresh_first(fact.account)
            dirty |= self._deal_reps(old_first) | self._deal_reps(new_first)
        return self._invalidate(dirty)

    def _touch(self, fact: DealFact | None) -> None:
        if fact is not None:
            self.last_dates.add(fact.closed_on)
            if fact.reversed_on is not None:
                self.last_dates.add(fact.reversed_on)
            if self.churns and fact.account is not None:
                self.last_dates.update(t for t in self.churns.get(fact.account, ())
                                       if t >= fact.closed_on)

    def remove_deal(self, deal_id: str) -> set[str]:
        """Forget a deal (it is no longer won and never was); returns the dirty payees."""
        self.last_dates = set()
        return self._invalidate(self._unindex(deal_id))

    def set_split(self, deal_id: str, shares: Shares | None) -> set[str]:
        """Change how a deal is credited (None = all to the owner)."""
        if shares:
            self.splits[deal_id] = shares
        else:
            self.splits.pop(deal_id, None)
        fact = self.facts.get(deal_id)
        if fact is None:
            return set()
        return self.upsert_deal(fact)

    def add_churn(self, account: str, day: dt.date) -> set[str]:
        days = self.churns.setdefault(account, [])
        if day in days:
            return set()
        days.append(day)
        days.sort()
        self.last_dates = {day}
        dirty: set[str] = set()
        for d in self._account_deals.get(account, ()):
            dirty |= self._deal_reps(d)
        return self._invalidate(dirty)

    def set_resolver(self, resolver: Resolver) -> None:
        self.resolve = resolver
        self._cache.clear()

    def _deal_reps(self, deal_id: str | None) -> set[str]:
        if deal_id is None:
            return set()
        self._touch(self.facts.get(deal_id))
        return {c.rep for c in self._by_deal.get(deal_id, ())}

    def _unindex(self, deal_id: str) -> set[str]:
        old = self.facts.pop(deal_id, None)
        dirty: set[str] = set()
        if old is None:
            return dirty
        self._touch(old)
        mk = month_key(old.closed_on)
        for c in self._by_deal.pop(deal_id, []):
            bucket = self._by_rep_month.get(c.rep, {}).get(mk)
            if bucket is not None:
                bucket.remove(c)
            self._reversed.get(c.rep, {}).pop(deal_id, None)
            dirty.add(c.rep)
        if old.account is not None:
            ids = self._account_deals.get(old.account)
            if ids is not None:
                old_first = self._first.get(old.account)
                ids.discard(deal_id)
                new_first = self._refresh_first(old.account)
                if old_first != deal_id:
                    dirty |= self._deal_reps(old_first)
                dirty |= self._deal_reps(new_first)
        return dirty

    def _invalidate(self, reps: set[str]) -> set[str]:
        out = set(reps)
        for r in reps:
            mgr = self.manager_of.get(r)
            if mgr:
                out.add(mgr)
        for p in out:
            self._cache.pop(p, None)
        return out

    # -- reading the index --------------------------------------------------------------------

    def deal_type(self, deal: DealFact) -> str:
        """The deal's own type if the source gave one; otherwise ``new`` for an account's first
        won deal (by closing date, then id), ``existing`` for later ones, ``unknown`` without an
        account."""
        if deal.deal_type:
            return deal.deal_type
        if deal.account is None:
            return "unknown"
        return "new" if self._first.get(deal.account) == deal.deal_id else "existing"

    def credits_of(self, rep: str, period: Period) -> list[Credit]:
        months = self._by_rep_month.get(rep)
        if not months:
            return []
        out: list[Credit] = []
        for m in period.months():  # months in order, each bucket in closing order
            bucket = months.get(m.key)
            if bucket:
                out.extend(bucket)
        return out

    def team_credits_of(self, manager: str, period: Period) -> list[Credit]:
        out: list[Credit] = []
        for rep in self.team.get(manager, ()):
            out.extend(self.credits_of(rep, period))
        out.sort(key=_credit_key)
        return out

    def team_quota(self, manager: str, period: Period, assignment: Assignment) -> Decimal | None:
        if assignment.quota is not None:
            return assignment.quota
        if assignment.plan.manager_quota is not None:
            return assignment.plan.manager_quota
        total = ZERO
        found = False
        for rep in self.team.get(manager, ()):
            a = self.resolve(rep, period)
            if a is None:
                continue
            q = a.quota if a.quota is not None else a.plan.quota
            if q is not None:
                total += q
                found = True
        return total if found else None

    def reversal_candidates(self, payee: str) -> list[Credit]:
        reps = [payee, *self.team.get(payee, ())]
        out: dict[tuple[str, str], Credit] = {}
        for rep in reps:
            for c in self._reversed.get(rep, {}).values():
                out[(c.deal.deal_id, c.rep)] = c
            if self.churns:
                for bucket in (self._by_rep_month.get(rep) or {}).values():
                    for c in bucket:
                        if c.deal.account in self.churns:
                            out[(c.deal.deal_id, c.rep)] = c
        return sorted(out.values(), key=_credit_key)

    def active_months(self, payee: str) -> list[Period]:
        """Months in which the payee (or, for a manager, the team) has credited deals."""
        keys: set[str] = set()
        for rep in [payee, *self.team.get(payee, ())]:
            keys.update(k for k, v in (self._by_rep_month.get(rep) or {}).items() if v)
        return sorted(Period.parse(k) for k in keys)

    def credits_ever(self, rep: str) -> bool:
        """Whether the rep has any credited deal at all."""
        return any(self._by_rep_month.get(rep, {}).values())

    def payees(self) -> set[str]:
        """Everyone who can have a statement: deal owners, credited reps, roster reps, managers."""
        out = {r for r, months in self._by_rep_month.items() if any(months.values())}
        out |= set(self.manager_of)
        out |= set(self.team)
        return out

    # -- statements ---------------------------------------------------------------------------

    def roles_of(self, payee: str) -> tuple[str, ...]:
        return ("rep", "manager") if self.team.get(payee) else ("rep",)

    def statement(self, payee: str, period: Period) -> StatementResult:
        per = self._cache.get(payee)
        if per is not None:
            hit = per.get(period)
            if hit is not None:
                return hit
        res = self._compute(payee, period, self.resolve(payee, period))
        self._cache.setdefault(payee, {})[period] = res
        return res

    def compute_with(self, payee: str, period: Period, assignment: Assignment | None
                     ) -> StatementResult:
        """A statement under an explicit assignment (what-if); not cached."""
        return self._compute(payee, period, assignment)

    def _compute(self, payee: str, period: Period, a: Assignment | None) -> StatementResult:
        roles = self.roles_of(payee)
        if a is None:
            credits = self.credits_of(payee, period)
            return StatementResult(payee, period, None, None, roles, None,
                                   sum((c.amount for c in credits), ZERO), len(credits))
        plan = a.plan
        if period.kind != plan.period:
            raise RuleError(f"plan {plan.name!r} v{plan.version} pays by {plan.period}; "
                            f"{period} is a {period.kind}")
        ctx = RuleContext(self, payee, period, a, roles)
        role_set = set(roles)
        for rule in plan.rules:
            if rule.roles.isdisjoint(role_set):
                continue
            ctx.rule = rule
            ctx.as_manager = "rep" not in rule.roles
            produced = list(rule.type.compute(ctx, rule.params))
            rid, rtype, rplugin, rversion = rule.id, rule.type.name, rule.plugin, rule.version
            for ln in produced:  # the one place lines are rounded: half-even to cents
                ln.rule = rid
                ln.type = rtype
                ln.plugin = rplugin
                ln.version = rversion
                ln.amount = ln.exact.quantize(CENT, ROUND_HALF_EVEN)
            ctx.lines.extend(produced)
        res = StatementResult(payee, period, plan.name, plan.version, roles, ctx.own_quota,
                              ctx.own_credited, len(ctx.own_credits), ctx.lines, carry=ctx.carry)
        if "manager" in roles and plan.pays_managers:
            res.team_credited = ctx.team_credited
            res.team_quota = ctx.team_quota
        return res
