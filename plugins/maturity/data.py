"""The tenant's data as of a day, read once through the public read API and shared by every
measured criterion.

* Events come from :meth:`attain.core.Engine.events`; an event counts when its UTC day
  (:func:`attain.core.utc_day`) is on or before ``as_of``. A deal's state as of that day is its
  highest version among those events (a deleted deal is left out); its stage history is the set
  of stages its versions went through.
* Goals come from the goals plugin's :class:`~attain.plugins.goals.GoalService`, commission plans
  from the incentives plugin's :class:`~attain.plugins.incentives.Incentives` (their
  public API), when those plugins are loaded and enabled for the tenant.
* Event types the installed event model does not have (cost, forecast …) read as empty, and
  :meth:`TenantData.supports` says so: criteria over them report "no data".
"""

from __future__ import annotations

import datetime as dt
import logging
import typing
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from attain.core import AnyEvent, DealEvent, Dimensions, Engine, Metric, utc_day
from attain.core.models import ActivityEvent, LeadEvent

log = logging.getLogger("attain.plugins.maturity")

#: every event type the installed event model knows (``deal``, ``lead`` …)
EVENT_TYPES: frozenset[str] = frozenset(
    str(cls.model_fields["type"].default) for cls in typing.get_args(AnyEvent))


def activity_kinds() -> frozenset[str]:
    """The activity kinds the installed event model accepts."""
    return frozenset(typing.get_args(ActivityEvent.model_fields["kind"].annotation))


#: sources that mean a deal was found by sales, not marketing (compared case-insensitively)
SALES_SOURCES = frozenset({"outbound", "sales", "rep", "self-sourced", "self sourced",
                           "self-generated", "referral", "partner", "existing customer",
                           "upsell", "renewal"})
SOURCE_ATTRIBUTES = ("lead_source", "LeadSource", "leadsource", "source", "Source")


@dataclass(frozen=True)
class Plan:
    """A stored commission plan version, as the maturity criteria see it."""

    name: str
    version: int
    rule_metrics: tuple[tuple[str, str | None], ...]  # (rule id, the metric it names, if any)


class TenantData:
    """Everything the criteria read, for one tenant as of one day (read lazily, once)."""

    def __init__(self, engine: Engine, tenant: str, as_of: dt.date | None = None) -> None:
        self.engine = engine
        self.tenant = tenant
        self._as_of = as_of
        #: plan versions the incentives plugin could not read (see :attr:`plans`)
        self.unreadable_plans: list[str] = []

    # -- the day --------------------------------------------------------------------------------

    @cached_property
    def all_events(self) -> list[AnyEvent]:
        return list(self.engine.events(self.tenant))

    @cached_property
    def as_of(self) -> dt.date:
        """The assessment's day: the one given, else the UTC day of the tenant's newest event
        (so historical data is assessed at its own time), else today (UTC)."""
        if self._as_of is not None:
            return self._as_of
        days = [utc_day(e.occurred_at) for e in self.all_events]
        return max(days) if days else dt.datetime.now(dt.UTC).date()

    @cached_property
    def events(self) -> list[AnyEvent]:
        """The tenant's events whose UTC day is on or before :attr:`as_of`, in arrival order."""
        cut = self.as_of
        return [e for e in self.all_events if utc_day(e.occurred_at) <= cut]

    def of_type(self, kind: str) -> list[Any]:
        return [e for e in self.events if getattr(e, "type", None) == kind]

    def supports(self, event_type: str) -> bool:
        """Whether the installed event model has events of this type."""
        return event_type in EVENT_TYPES

    def window(self, days: int) -> tuple[dt.date, dt.date]:
        """The last ``days`` days up to and including :attr:`as_of`."""
        return self.as_of - dt.timedelta(days=days - 1), self.as_of

    # -- deals ----------------------------------------------------------------------------------

    @cached_property
    def _deal_versions(self) -> dict[str, list[DealEvent]]:
        out: dict[str, list[DealEvent]] = defaultdict(list)
        for e in self.events:
            if isinstance(e, DealEvent):
                out[e.deal_id].append(e)
        return out

    @cached_property
    def deals(self) -> dict[str, DealEvent]:
        """Each deal's state as of the day (its highest version), deleted deals left out."""
        out = {}
        for deal_id, versions in self._deal_versions.items():
            latest = max(versions, key=lambda d: d.version)
            if latest.status != "deleted":
                out[deal_id] = latest
        return out

    def stages_of(self, deal_id: str) -> set[str]:
        return {d.stage for d in self._deal_versions.get(deal_id, ())}

    @cached_property
    def stages(self) -> set[str]:
        return {d.stage for vs in self._deal_versions.values() for d in vs}

    @cached_property
    def leads(self) -> list[LeadEvent]:
        return [e for e in self.events if isinstance(e, LeadEvent)]

    @cached_property
    def activities(self) -> list[ActivityEvent]:
        return [e for e in self.events if isinstance(e, ActivityEvent)]

    @cached_property
    def _lead_of_deal(self) -> dict[str, list[LeadEvent]]:
        out: dict[str, list[LeadEvent]] = defaultdict(list)
        for ev in self.leads:
            if ev.deal_id:
                out[ev.deal_id].append(ev)
        return out

    @cached_property
    def _lead_kinds(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        for ev in self.leads:
            out[ev.lead_id].add(ev.kind)
        return out

    def lead_source(self, deal: DealEvent) -> str | None:
        """A deal's lead source: its ``lead_source`` field (when the model has one), a source
        attribute (``lead_source``, ``LeadSource``, ``source`` …), else the source of a lead
        event that names the deal."""
        value = getattr(deal, "lead_source", None)
        if isinstance(value, str) and value.strip():
            return value.strip()
        attrs = deal.attributes or {}
        for key in SOURCE_ATTRIBUTES:
            v = attrs.get(key)
            if isinstance(v, str) and v.strip():
                return v.strip()
        for ev in self._lead_of_deal.get(deal.deal_id, ()):
            if ev.source and ev.source.strip():
                return ev.source.strip()
        return None

    def marketing_sourced(self, deal: DealEvent) -> bool:
        """A deal came from marketing: a lead that names it reached MQL, or its lead source is
        not one of :data:`SALES_SOURCES`."""
        for ev in self._lead_of_deal.get(deal.deal_id, ()):
            if "mql" in self._lead_kinds.get(ev.lead_id, set()):
                return True
        source = self.lead_source(deal)
        return source is not None and source.casefold() not in SALES_SOURCES

    # -- reference data, KPIs -------------------------------------------------------------------

    @cached_property
    def dimensions(self) -> Dimensions:
        return self.engine.dimensions(self.tenant)

    @cached_property
    def metrics(self) -> dict[str, Metric]:
        return {m.name: m for m in self.engine.metrics(self.tenant)}

    @cached_property
    def reps(self) -> set[str]:
        """The sales team: the roster's reps and every deal owner as of the day."""
        return set(self.dimensions.reps) | {d.owner for d in self.deals.values()}

    # -- other plugins --------------------------------------------------------------------------

    def plugin_on(self, name: str) -> bool:
        """Whether plugin ``name`` is loaded and enabled for the tenant."""
        return name in self.engine.plugins.names() and name not in self.engine.disabled(self.tenant)

    @cached_property
    def goals(self) -> list[Any]:
        """The tenant's goals whose period started on or before the day (goals plugin)."""
        if not self.plugin_on("goals"):
            return []
        from attain.plugins.goals import GoalService

        return [g for g in GoalService(self.engine, self.tenant).goals()
                if g.period.start <= self.as_of]

    @cached_property
    def stored_forecasts(self) -> dict[str, Any] | None:
        """The accuracy of the forecasts the forecast plugin stored (``attain forecast`` runs and
        backtests) whose periods have ended: ``periods``, ``mape`` (percent), ``coverage``; None
        without the plugin."""
        if not self.plugin_on("forecast"):
            return None
        from attain.plugins.forecast import forecast_accuracy

        result: dict[str, Any] = forecast_accuracy(self.engine, self.tenant)
        return result

    def goal_actuals(self, goals: Iterable[Any]) -> dict[str, Decimal | None]:
        """Each goal's actual as the goals plugin computes it (None: it cannot be tracked)."""
        from attain.plugins.goals import GoalService

        svc = GoalService(self.engine, self.tenant)
        return {g.id: svc.actual(g) for g in goals}

    @cached_property
    def plans(self) -> list[Plan]:
        """Stored commission plan versions (incentives plugin) effective on or before the day."""
        if not self.plugin_on("incentives"):
            return []
        from attain.plugins.incentives import Incentives

        inc = Incentives(self.engine, self.tenant)
        out = []
        for row in inc.plan_versions():
            start = row.get("effective_from")
            if start is not None and start > self.as_of:
                continue
            try:
                plan = inc.plan(row["plan"], row["version"])
            except Exception:  # e.g. a rule type whose plugin is no longer installed
                log.warning("tenant %s: plan %s v%s cannot be read; left out of the maturity "
                            "assessment", self.tenant, row["plan"], row["version"], exc_info=True)
                self.unreadable_plans.append(f"{row['plan']} v{row['version']}")
                continue
            out.append(Plan(plan.name, plan.version, tuple(
                (r.id, _metric_of(r.params)) for r in plan.rules)))
        return out


def _metric_of(params: Any) -> str | None:
    value = getattr(params, "metric", None)
    return value if isinstance(value, str) and value else None
