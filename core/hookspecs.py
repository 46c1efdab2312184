"""Attain's core hook specifications.

Every hook is named ``attain_*``. A plugin implements the ones it needs with the marker exported
by :mod:`attain.core`::

    from attain.core import Metric, hookimpl

    @hookimpl
    def attain_register_metrics(register):
        register(Metric(...))

Extension hooks receive a ``register`` callback (the pattern of simonw/llm): call it once per item
you contribute. The core validates each item, rejects a name that another plugin already took with
a clear error, and records which plugin and distribution owns it. The registries are rebuilt
whenever a plugin is registered, so a plugin registered late is included.

Concepts a plugin owns (goal types, commission rules, maturity criteria) have their hooks in that
plugin's own ``hookspecs`` module, added through :func:`attain_add_hookspecs`; a partner's rule
plugin depends on the incentives plugin, not on the core.

Lifecycle hooks are called for every plugin separately: an exception in one plugin is caught,
logged with the plugin's name and counted (``attain_plugin_errors_total``); the event is still
processed and the other plugins still run.

The reference of every hook (these docstrings and the plugins' own) is generated into
``docs/hooks.md`` by ``scripts/hooks-doc``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import typer

    from .connectors import Connector
    from .engine import Engine
    from .kpi import Metric
    from .models import AnyEvent, DealEvent
    from .period_metrics import PeriodMetric
    from .plugins import Plugins
    from .store.migrations import Migrations

hookspec = pluggy.HookspecMarker("attain")


@hookspec(historic=True)
def attain_add_hookspecs(pluginmanager: Plugins) -> None:
    """Add the plugin's own hook specifications (as pytest's ``pytest_addhooks``).

    :param pluginmanager: Attain's plugin manager; call
        ``pluginmanager.add_hookspecs(module, registries={"commission_rules":
        "attain_register_commission_rules"})`` with the module of ``@hookspec`` functions
        (marker: ``pluggy.HookspecMarker("attain")``) and the registry kinds its ``register``
        hooks fill (read back with ``plugins.registry(kind)``).
    :return: nothing. Historic: called for a plugin as soon as it is registered, so plugins
        registered before or after it can implement its hooks.

    Example::

        import pluggy
        from attain.core import hookimpl

        hookspec = pluggy.HookspecMarker("attain")


        class MySpecs:
            @hookspec
            def attain_register_playbooks(register):
                ...  # call register(playbook) for each sales playbook


        @hookimpl
        def attain_add_hookspecs(pluginmanager):
            pluginmanager.add_hookspecs(MySpecs, registries={"playbooks": "attain_register_playbooks"})
    """


@hookspec
def attain_register_metrics(register: Callable[[Metric], None]) -> None:
    """Register KPIs.

    :param register: call ``register(metric)`` with an :class:`attain.core.Metric` for each
        KPI the plugin adds. ``metric.contribute(deal)`` returns the deal snapshot's additive
        components (or, for a metric declaring ``events=("lead", "activity")``, a lead or
        activity event's); ``metric.compute(sums)`` turns summed components into the value (or
        None).
        Names must be unique across plugins; a clash raises
        :class:`attain.core.RegistrationError` naming both owners.
    :return: nothing; the return value is ignored.

    The engine keeps components per cube cell and retracts a deal's old contribution when a newer
    version arrives, so a metric is exact under replays, duplicates and reordering as long as
    ``contribute`` is a pure function of the snapshot.

    Example::

        from decimal import Decimal

        from attain.core import Metric, hookimpl, quantize


        def fast_contribute(deal):
            if deal.status != "won":
                return {}
            fast = (deal.engaged_on is not None and deal.closed_on is not None
                    and (deal.closed_on - deal.engaged_on).days <= 30)
            return {"won": 1, "fast": 1} if fast else {"won": 1}


        def fast_share(sums):
            won = sums.get("won", Decimal(0))
            return None if won == 0 else quantize(sums.get("fast", Decimal(0)) / won, 4)


        @hookimpl
        def attain_register_metrics(register):
            register(Metric("fast_win_share", "won deals closed within 30 days / won deals",
                            fast_contribute, fast_share, unit="ratio"))
    """


@hookspec
def attain_register_period_metrics(register: Callable[[PeriodMetric], None]) -> None:
    """Register period metrics: company figures that need state across events.

    :param register: call ``register(metric)`` with an :class:`attain.core.PeriodMetric` for
        each figure. ``metric.compute(reads, periods)`` gets an
        :class:`attain.core.PeriodReads` (the tenant's first won day per account, won revenue
        per day, facts by type, deal snapshots) and the periods asked, and returns period key →
        metric name → value; metrics registered with the same function share one call.
        Names share one namespace with :func:`attain_register_metrics`' (a clash raises
        :class:`attain.core.RegistrationError`).
    :return: nothing; the return value is ignored.

    :meth:`attain.core.Engine.kpis` computes them at read time for the company (``all``) and
    per period of a time grouping, so a figure such as "new customers" (an account's *first*
    won deal) or "churn rate" (over the customers active at the period's start) is a read of
    the current state, exact whatever order events arrived in, and can be a goal's metric.

    Example::

        from attain.core import PeriodMetric, hookimpl


        def accounts_won(reads, periods):
            days = reads.first_won_days.values()
            return {p.key: {"first_wins": sum(1 for d in days if p.contains(d))} for p in periods}


        @hookimpl
        def attain_register_period_metrics(register):
            register(PeriodMetric("first_wins", "accounts whose first won deal closed in the "
                                  "period", accounts_won, unit="count"))
    """


@hookspec
def attain_register_connectors(register: Callable[[Connector], None]) -> None:
    """Register connectors that turn an external system into Attain events.

    :param register: call ``register(connector)`` with an object that satisfies
        :class:`attain.core.Connector`: a ``name`` (used as ``attain import <name> SOURCE``),
        a ``description`` and ``read(source, tenant)`` returning a :class:`attain.core.Batch`
        of dimensions and events. An incremental connector declares ``read(source, tenant,
        engine=None)`` to be given the engine (its high-water mark lives in the store) and
        returns a batch with a ``checkpoint(conn, records)``, run in the transaction of each
        committed batch of records (docs/connectors.md). Every connector should pass the
        contract suite of :mod:`attain.testing.contract`.
    :return: nothing; the return value is ignored.

    Example::

        from attain.core import Batch, ConnectorError, Record, hookimpl
        from attain.core.models import Rep


        class JsonDumpConnector:
            name = "json-dump"
            description = "a folder with events.jsonl and reps.txt"

            def read(self, source, tenant):
                import pathlib

                root = pathlib.Path(source)
                if not (root / "events.jsonl").is_file():
                    raise ConnectorError(f"{root}: no events.jsonl")
                reps = [Rep(name=n.strip()) for n in (root / "reps.txt").read_text().splitlines()
                        if n.strip()]
                lines = (root / "events.jsonl").read_text().splitlines()
                records = [Record(line, source=f"events.jsonl:{i}", line=i)
                           for i, line in enumerate(lines, start=1) if line.strip()]
                return Batch(records=records, reps=reps, total=len(records))


        @hookimpl
        def attain_register_connectors(register):
            register(JsonDumpConnector())
    """


@hookspec
def attain_register_migrations(register: Callable[[Migrations], None]) -> None:
    """Register the plugin's database migrations.

    :param register: call ``register(Migrations(name, folder))`` with an
        :class:`attain.core.Migrations`: a unique ``name`` (its history is kept in the table
        ``alembic_version_<name>``) and the folder of its Alembic revision files. Every
        :class:`attain.core.Store` brings the core's and then each plugin's tables to their head.
    :return: nothing; the return value is ignored.

    Example::

        from pathlib import Path

        from attain.core import Migrations, hookimpl


        @hookimpl
        def attain_register_migrations(register):
            # migrations/0001_my_tables.py … : Alembic revision files (revision, down_revision,
            # upgrade(), downgrade()); their history is kept in alembic_version_my_plugin
            register(Migrations("my_plugin", Path(__file__).parent / "migrations"))
    """


@hookspec
def attain_register_commands(cli: typer.Typer) -> None:
    """Add sub-commands to the ``attain`` command line.

    :param cli: the root :class:`typer.Typer` application; call ``cli.add_typer(...)`` or
        ``cli.command()(fn)``. Read commands should accept ``--format json`` (see
        :mod:`attain.core.cli_kit`). Called once per plugin and application. So that
        ``attain --help`` stays fast, keep the command module out of the plugin's own module and
        add it with ``attain.core.cli_kit.lazy_commands(cli, "my_plugin.cli:register",
        {"big-deals": "Big deals."})``: the module is imported only when one of its commands runs.
    :return: nothing; the return value is ignored.

    Example::

        import typer

        from attain.core import hookimpl

        big_app = typer.Typer(help="Big deals.")


        @big_app.command("threshold")
        def threshold() -> None:
            # Print the big-deal threshold.
            typer.echo("5000")


        @hookimpl
        def attain_register_commands(cli):
            cli.add_typer(big_app, name="big-deals")
    """


@hookspec(firstresult=True)
def attain_follow_kpis(tenant: str, grouping: str, fmt: str, max_rows: int | None,
                       timeout: float | None) -> Callable[[], int] | None:
    """Provide what ``attain kpi --follow`` runs (the streams plugin does).

    :param tenant: the tenant whose KPI updates to print.
    :param grouping: the grouping (``rep``, ``region`` …).
    :param fmt: ``table``, ``json`` or ``csv``.
    :param max_rows: stop after printing this many rows (``--max-updates``), None: no limit.
    :param timeout: stop after this many seconds (``--timeout``), None: no limit.
    :return: a function that prints changed KPI rows until interrupted and returns how many it
        printed, or None when this plugin cannot follow. The first non-None answer is used.

    Example::

        from attain.core import hookimpl


        @hookimpl
        def attain_follow_kpis(tenant, grouping, fmt):
            def follow():
                printed = 0
                for row in my_stream_of_kpi_rows(tenant, grouping):  # your transport
                    print(row)
                    printed += 1
                return printed

            return follow
    """


@hookspec(firstresult=True)
def attain_serve(host: str, port: int, tenant: str, sign_in: bool) -> Callable[[], None] | None:
    """Provide what ``attain demo --serve`` runs: a web server of the database the command works
    on (the ``api`` plugin does: its API and dashboard).

    :param host: the address to listen on.
    :param port: the port to listen on.
    :param tenant: the tenant the demo data is in (a sign-in link is for it).
    :param sign_in: print a sign-in link for an admin of ``tenant`` before serving.
    :return: a function that serves until interrupted, or None when this plugin has no server.
        The first non-None answer is used.

    Example::

        from attain.core import hookimpl


        @hookimpl
        def attain_serve(host, port, tenant, sign_in):
            return lambda: my_server(host, port).serve_forever()
    """


@hookspec
def attain_event_received(event: AnyEvent, tenant: str, engine: Engine) -> None:
    """Called for every valid event before the engine decides what to do with it.

    :param event: the validated event (immutable).
    :param tenant: the tenant it belongs to.
    :param engine: the :class:`attain.core.Engine` processing it (its store, plugins and
        KPI reads), the same object in the embedded runner and in a stream worker.
    :return: nothing; the return value is ignored. Raising does not stop the event: the error is
        logged with the plugin's name and counted.

    Implementing it costs a Python call per event on every ingest: prefer
    :func:`attain_batch_processed`.

    Example::

        import logging

        from attain.core import hookimpl

        log = logging.getLogger("my_plugin")


        @hookimpl
        def attain_event_received(event, tenant):
            if event.type == "deal" and event.amount is not None and event.amount > 1_000_000:
                log.info("tenant %s: unusually large deal %s", tenant, event.deal_id)
    """


@hookspec
def attain_event_processed(event: AnyEvent, tenant: str, outcome: str, engine: Engine) -> None:
    """Called after the engine handled a valid event and its changes were committed.

    :param event: the validated event.
    :param tenant: the tenant it belongs to.
    :param engine: the :class:`attain.core.Engine` that processed it.
    :param outcome: ``"accepted"``, ``"duplicate"`` or ``"stale"``.
    :return: nothing; the return value is ignored. Raising is isolated as for
        :func:`attain_event_received`.

    Example::

        from collections import Counter

        from attain.core import hookimpl

        WINS: Counter[str] = Counter()


        @hookimpl
        def attain_event_processed(event, tenant, outcome):
            if outcome == "accepted" and event.type == "deal" and event.status == "won":
                WINS[tenant] += 1
    """


@hookspec
def attain_batch_processed(tenant: str, outcomes: list[tuple[AnyEvent, str]], engine: Engine,
                           previous: dict[str, DealEvent]) -> None:
    """Called once per tenant after a batch was committed, after its ``attain_event_processed``
    calls.

    Use it to do per-batch work once (write accruals, re-evaluate goals) instead of per event.

    :param tenant: the tenant.
    :param outcomes: ``(event, outcome)`` pairs of that tenant's valid events, in batch order;
        outcome is ``"accepted"``, ``"duplicate"`` or ``"stale"``.
    :param engine: the :class:`attain.core.Engine` that processed the batch.
    :param previous: for each deal the batch moved, the stored snapshot its accepted versions
        replaced (by deal id; a deal new to the store is absent).
    :return: nothing; the return value is ignored. Raising is isolated as for
        :func:`attain_event_received`.

    Example::

        from attain.core import hookimpl


        @hookimpl
        def attain_batch_processed(tenant, outcomes, engine):
            accepted = sum(1 for _, outcome in outcomes if outcome == "accepted")
            print(f"{tenant}: {accepted} events changed state")
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

    Example::

        import sys

        from attain.core import hookimpl


        @hookimpl
        def attain_event_rejected(tenant, reason, payload, source):
            print(f"[{tenant}] rejected {source}: {reason}", file=sys.stderr)
    """


@hookspec
def attain_notify(tenant: str, kind: str, payload: dict[str, Any], engine: Engine | None) -> None:
    """Deliver a notification (``goal.at_risk``, ``statement.approved`` …) anywhere.

    :param tenant: the tenant it concerns.
    :param kind: a dotted event name such as ``"goal.at_risk"``.
    :param payload: JSON-serialisable details (ids, owner, figures as strings or numbers).
    :param engine: the :class:`attain.core.Engine` of the database the notification comes from
        (for the notifier's per-tenant settings), or None.
    :return: nothing; the return value is ignored. Each implementation is called separately and
        a failure is logged with the plugin's name and counted, never raised to the caller.

    Example::

        import json
        import urllib.request

        from attain.core import hookimpl


        @hookimpl
        def attain_notify(tenant, kind, payload):
            body = json.dumps({"tenant": tenant, "kind": kind, **payload}).encode()
            req = urllib.request.Request("http://127.0.0.1:9000/hooks/attain", data=body,
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=5)
    """
