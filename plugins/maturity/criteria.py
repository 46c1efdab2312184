"""The bundled criteria of the five-level model, registered through the plugin's own hook like a
partner's (docs/maturity.md lists them with their thresholds)."""

from __future__ import annotations

from decimal import Decimal

from . import measures as m
from .model import Criterion, Measure

W1, W2, W3 = Decimal(1), Decimal(2), Decimal(3)


def measured(name: str, level: int, description: str, fn: Measure, weight: Decimal = W2,
             required: bool = True) -> Criterion:
    return Criterion(name, description, level, "measured", weight, required, measure=fn)


def answered(name: str, level: int, question: str, recommendation: str, checked_by: str | None,
             weight: Decimal = W1, required: bool = True) -> Criterion:
    return Criterion(name, question, level, "answered", weight, required, question=question,
                     checked_by=checked_by, recommendation=recommendation)


BUILTIN: tuple[Criterion, ...] = (
    # -- 2 Defined --
    measured("crm_deals", 2, "deals are recorded in the CRM", m.crm_deals, W3),
    measured("sales_stages", 2, f"a sales process with at least {m.MIN_STAGES} stages in use",
             m.sales_stages),
    measured("basic_kpis", 2, "won revenue and win rate are measured (closed deals exist)",
             m.basic_kpis),
    answered("crm_every_deal", 2, "Is every deal tracked in the CRM (no side spreadsheets)?",
             "track every deal in the CRM and retire side spreadsheets", "crm_deals"),
    answered("documented_process", 2,
             "Is the sales process documented, with each stage's entry and exit criteria?",
             "document the sales process: each stage with its entry and exit criteria",
             "sales_stages"),
    # -- 3 Implemented --
    measured("lead_stages", 3, "lead stages MQL, SAL and SQL are recorded", m.lead_stages),
    measured("lead_sources", 3, "more than half of the deals have a lead source", m.lead_sources),
    measured("stage_history", 3, "more than half of the deals have a stage history",
             m.stage_history),
    answered("lead_definitions", 3,
             "Have marketing and sales agreed written definitions of MQL, SAL and SQL?",
             "agree written MQL, SAL and SQL definitions between marketing and sales",
             "lead_stages"),
    answered("sales_methodology", 3,
             "Is one sales methodology (e.g. MEDDICC, SPIN, Challenger) applied by every rep?",
             "choose one sales methodology and apply it to every deal", "stage_history"),
    answered("lead_source_policy", 3, "Do you record a lead source on every deal?",
             "make the lead source a mandatory field of every deal", "lead_sources",
             required=False),
    # -- 4 Managed --
    measured("funnel_conversion", 4, "conversion is measured at every funnel stage "
             "(created → MQL → SAL → SQL → converted → won)", m.funnel_conversion),
    measured("marketing_revenue", 4, "marketing-sourced revenue is measured (the source of more "
             "than half of the won deals is known; benchmark ~30 % from marketing)",
             m.marketing_revenue),
    measured("activity_adoption", 4, f"more than half of the reps logged activities in the last "
             f"{m.ADOPTION_DAYS} days", m.activity_adoption),
    measured("goals_tracked", 4, "goals are defined and tracked against the CRM's data",
             m.goals_tracked),
    measured("coaching_hours", 4, f"at least {m.COACHING_HOURS_PER_REP} hours of coaching or "
             f"training per rep in the last {m.ADOPTION_DAYS} days", m.coaching_hours,
             required=False),
    answered("training_programme", 4, "Does the team follow a regular coaching and training "
             "programme?", "set up a regular coaching and training programme", "coaching_hours"),
    # -- 5 Predictable & optimised --
    measured("shared_funnel_goals", 5, "goals are set on funnel KPIs (shared by sales and "
             "marketing)", m.shared_funnel_goals),
    measured("comp_non_revenue", 5, "a commission plan pays on funnel or activity goals",
             m.comp_non_revenue),
    measured("campaign_roi", 5, "CAC and campaign ROI are measurable (costs are recorded)",
             m.campaign_roi),
    measured("forecast_accuracy", 5, "forecasts of past periods exist and their accuracy is "
             "tracked", m.forecast_accuracy),
    answered("shared_goals", 5, "Do sales and marketing share goals (e.g. pipeline, MQL → SQL "
             "targets)?", "agree shared sales and marketing goals", "shared_funnel_goals"),
    answered("forecast_reviews", 5, "Are forecasts made from history and reviewed against the "
             "actuals every period?", "forecast from history and review the accuracy every "
             "period", "forecast_accuracy"),
)
