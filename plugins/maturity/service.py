"""The maturity service of one tenant: the model and its criteria from the registries, the
answers, running and storing an assessment, history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from attain.core import Engine

from . import hookspecs
from .data import TenantData
from .model import STANDARD, Criterion, MaturityError, MaturityModel, resolve_criteria
from .scoring import Answer, assess, changes
from .storage import MaturityRepo


def models(engine: Engine) -> dict[str, MaturityModel]:
    """Registered models by name (the bundled ``standard`` one always)."""
    out: dict[str, MaturityModel] = {STANDARD.name: STANDARD}
    for name, m in engine.plugins.registry(hookspecs.MODELS).items():
        if not isinstance(m, MaturityModel):
            m = MaturityModel(name, str(getattr(m, "description", "")),
                              tuple(getattr(m, "levels", STANDARD.levels)),
                              getattr(m, "criteria", None))
        out[name] = m
    return out


def choose_model(engine: Engine, name: str | None) -> MaturityModel:
    """``name``, else the one model a partner registered (it replaces the bundled one), else the
    bundled ``standard`` model."""
    all_models = models(engine)
    if name is not None:
        if name not in all_models:
            raise MaturityError(f"no maturity model {name!r}; models: {', '.join(sorted(all_models))}")
        return all_models[name]
    partners = [m for n, m in all_models.items() if n != STANDARD.name]
    return partners[0] if len(partners) == 1 else STANDARD


class Maturity:
    """Assessments of one tenant of an :class:`~attain.core.Engine`."""

    def __init__(self, engine: Engine, tenant: str, model: str | None = None) -> None:
        self.engine = engine
        self.tenant = tenant
        self.model = choose_model(engine, model)
        self.repo = MaturityRepo(engine.store)

    def criteria(self) -> list[Criterion]:
        plugins = self.engine.plugins
        off = self.engine.disabled(self.tenant)
        registered = {}
        for name, obj in plugins.registry(hookspecs.KIND).items():
            owner = plugins.owner(hookspecs.KIND, name)
            plugin = owner.plugin if owner is not None else ""
            if plugin not in off:
                registered[name] = (obj, plugin)
        return resolve_criteria(registered, self.model)

    def answers(self) -> dict[str, Answer]:
        return self.repo.answers(self.tenant)

    def save_answers(self, answers: Iterable[Answer]) -> int:
        return self.repo.save_answers(self.tenant, answers)

    def assess(self, as_of: dt.date | None = None, save: bool = True) -> dict[str, Any]:
        """Assess the tenant as of ``as_of`` (default: its newest event's day); stored unless
        ``save`` is false; ``changes`` says what moved since the previous stored one."""
        data = TenantData(self.engine, self.tenant, as_of)
        result = assess(self.model, self.criteria(), data, self.answers())
        previous = self.repo.latest(self.tenant, self.model.name)
        result["changes"] = changes(previous, result)
        if save:
            result = self.repo.save_assessment(self.tenant, result)
        return result

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Stored assessments, oldest first, each with what changed since the one before."""
        rows = self.repo.assessments(self.tenant, self.model.name, limit)
        out = []
        before: dict[str, Any] | None = None
        for r in rows:
            out.append({"id": r["id"], "assessed_at": r["assessed_at"], "as_of": r["as_of"],
                        "level": r["level"], "level_name": r.get("level_name"),
                        "confidence": r.get("confidence"),
                        "levels": {str(lv["level"]): lv["progress"] for lv in r["levels"]},
                        "criteria": {c["id"]: c["met"] for c in r["criteria"]},
                        "changes": changes(before, r)})
            before = r
        return out
