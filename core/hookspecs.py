"""Attain's hook specifications.

Every hook is named ``attain_*``. A plugin implements the ones it needs with the marker exported
by :mod:`attain.core`::

    from attain.core import hookimpl

    @hookimpl
    def attain_register_metrics(register):
        register(Metric(...))

Extension hooks receive a ``register`` callback (the pattern of simonw/llm): call it once per item
you contribute. The core validates each item, rejects a name that another plugin already took with
a clear error, and records which plugin and distribution owns it. Registration hooks are
``historic``: a plugin registered late still receives them.

Lifecycle hooks are called for every plugin separately: an exception in one plugin is caught,
logged with the plugin's name and counted (``attain_plugin_errors_total``); the event is still
processed and the other plugins still run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .engine import Engine
    from .models import AnyEvent

hookspec = pluggy.HookspecMarker("attain")


@hookspec(historic=True)
def attain_register_metrics(register: Callable[..., None]) -> None:
    """Register KPIs.

    :param register: call ``register(metric)`` with an :class:`attain.core.kpi.Metric` for each
        KPI the plugin adds. ``metric.contribute(deal)`` returns the deal snapshot's additive
        components (or, for a metric declaring ``events=("lead", "activity")``, a lead or
        activity event's); ``metric.compute(sums)`` turns summed components into the value (or
        None).
        Names must be unique across plugins; a clash raises
        :class:`attain.core.plugins.RegistrationError` naming both owners.
    :return: nothing; the return value is ignored.

    The engine keeps components per cube cell and retracts a deal's old contribution when a newer
    version arrives, so a metric is exact under replays, duplicates and reordering as long as
    ``contribute`` is a pure function of the snapshot.
    """


@hookspec(historic=True)
def attain_register_connectors(register: Callable[..., None]) -> None:
    """Register connectors that turn an external system into Attain events.

    :param register: call ``register(connector)`` with an object that satisfies
        :class:`attain.core.connectors.Connector`: a ``name`` (used as
        ``attain import <name> SOURCE``), a ``description`` and ``read(source, tenant)`` returning
        a :class:`attain.core.connectors.Batch` of dimensions and events.
    :return: nothing; the return value is ignored.
    """


@hookspec(historic=True)
def attain_register_goal_types(register: Callable[..., None]) -> None:
    """Register goal types (outcome or activity goals over a metric).

    :param register: call ``register(goal_type)`` with an object that has a unique ``name`` and a
        ``description``; the goals plugin defines the full protocol.
    :return: nothing; the return value is ignored.
    """


@hookspec(historic=True)
def attain_register_commission_rules(register: Callable[..., None]) -> None:
    """Register commission rule types (flat rate, tiers, caps, SPIFs …).

    :param register: call ``register(rule_type)`` with an object that has a unique ``name`` (the
        ``type:`` used in plan files) and a ``description``; the incentives plugin defines the
        full protocol. Every statement line records the plugin and version of the rule that
        produced it.
    :return: nothing; the return value is ignored.
    """


@hookspec(historic=True)
def attain_register_maturity_criteria(register: Callable[..., None]) -> None:
    """Register criteria of the five-level sales & marketing maturity assessment.

    :param register: call ``register(criterion)`` with an object that has a unique ``name`` and a
        ``description``; the maturity plugin defines the full protocol.
    :return: nothing; the return value is ignored.
    """


@hookspec(historic=True)
def attain_register_commands(cli: Any) -> None:
    """Add sub-commands to the ``attain`` command line.

    :param cli: the root :class:`typer.Typer` application; call ``cli.add_typer(...)`` or
        ``cli.command()(fn)``. Read commands should accept ``--format json``.
    :return: nothing; the return value is ignored.
    """


@hookspec
def attain_event_received(event: AnyEvent, tenant: str, engine: Engine) -> None:
    """Called for every valid event before the engine decides what to do with it.

    :param event: the validated event (immutable).
    :param tenant: the tenant it belongs to.
    :param engine: the :class:`attain.core.engine.Engine` processing it (its store, plugins and
        KPI reads), the same object in the embedded runner and in a stream worker.
    :return: nothing; the return value is ignored. Raising does not stop the event: the error is
        logged with the plugin's name and counted.
    """


@hookspec
def attain_event_processed(event: AnyEvent, tenant: str, outcome: str, engine: Engine) -> None:
    """Called after the engine handled a valid event and its changes were committed.

    :param event: the validated event.
    :param tenant: the tenant it belongs to.
    :param engine: the :class:`attain.core.engine.Engine` that processed it.
    :param outcome: ``"accepted"``, ``"duplicate"`` or ``"stale"``.
    :return: nothing; the return value is ignored. Raising is isolated as for
        :func:`attain_event_received`.
    """


@hookspec
def attain_batch_processed(tenant: str, outcomes: list[tuple[AnyEvent, str]], engine: Engine) -> None:
    """Called once per tenant after a batch was committed, after its ``attain_event_processed``
    calls.

    Use it to do per-batch work once (write accruals, re-evaluate goals) instead of per event.

    :param tenant: the tenant.
    :param outcomes: ``(event, outcome)`` pairs of that tenant's valid events, in batch order;
        outcome is ``"accepted"``, ``"duplicate"`` or ``"stale"``.
    :param engine: the :class:`attain.core.engine.Engine` that processed the batch.
    :return: nothing; the return value is ignored. Raising is isolated as for
        :func:`attain_event_received`.
    """


@hookspec
def attain_event_rejected(tenant: str, reason: str, payload: str, source: str) -> None:
    """Called when an input was dead-lettered (bad JSON, schema violation, bad values, an event
    the database refused, an ``event_id`` reused with different content).

    :param tenant: the tenant the input was meant for.
    :param reason: the human-readable reason stored with the dead letter.
    :param payload: the original input as text (bytes that are not UTF-8 are decoded with
        replacement characters; the dead-letter store keeps their exact bytes).
    :param source: where it came from, e.g. ``"events.jsonl:17"`` or ``"kafka:attain.events/2@41"``.
    :return: nothing; the return value is ignored.
    """


@hookspec
def attain_notify(tenant: str, kind: str, payload: dict[str, Any]) -> None:
    """Deliver a notification (``goal.at_risk``, ``statement.approved`` …) anywhere.

    :param tenant: the tenant it concerns.
    :param kind: a dotted event name such as ``"goal.at_risk"``.
    :param payload: JSON-serialisable details (ids, owner, figures as strings or numbers).
    :return: nothing; the return value is ignored. Each implementation is called separately and
        a failure is logged with the plugin's name and counted, never raised to the caller.
    """
