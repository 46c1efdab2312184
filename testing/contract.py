"""The connector contract suite: what every connector must do, as tests a connector's own test
module inherits (docs/connectors.md).

::

    from attain.testing.contract import ConnectorContract

    class TestMyConnectorContract(ConnectorContract):
        connector = "my-crm"                      # the registered connector's name

        @pytest.fixture
        def attain_plugins_under_test(self):
            return {"my_crm": my_crm_plugin}

        def make_source(self, directory):         # a source holding some sample data
            ...
        def delete_record(self, source):          # delete one counted deal in it; its deal_id
            ...
        def secrets(self, source):                # the secret values the sync is configured with
            ...

The five contract tests (``test_contract_*``):

* **valid events only** — a sync of the sample source dead-letters nothing (every event it
  produces validates) and counts something;
* **idempotent re-sync** — syncing twice equals syncing once: the second accepts nothing new and
  every KPI (of every grouping) is unchanged;
* **resumable** — a sync interrupted at a transaction boundary (the first, the middle, the last
  batch: :class:`Interrupted`, a ``BaseException`` as a kill is) and run again gives exactly the
  KPIs of one clean sync; with ``incremental = True`` the resumed run also reads less than a
  clean one (it resumed from its high-water mark instead of starting over);
* **deletes honoured** — after a record is deleted in the source and synced again, its deal's
  snapshot is ``deleted`` and the KPIs equal those of a clean sync of the source with the record
  already deleted;
* **secrets never in logs** — no configured secret value (nor the value of any secret-looking
  environment variable, e.g. ``*_TOKEN``, ``*_SECRET``) is in what a sync logs (every logger at
  DEBUG), prints on stdout/stderr, or raises for a broken source.

The default :meth:`ConnectorContract.sync` is ``attain import``'s own path
(:func:`attain.core.read_through` then :func:`attain.core.process_batch`, in batches of
``batch_size``); a connector with a command of its own (``attain sync salesforce``) overrides it
to run its sync into the given engine.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from attain.core import Engine, Plugins, Result, Store, process_batch, read_through
from attain.core.kpi import GROUPINGS

from . import KitEngine

__all__ = ["ConnectorContract", "ContractEngine", "Interrupted", "all_kpis"]

#: environment variables whose values are secrets wherever they appear
SECRET_NAME = re.compile(r"(SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|APIKEY|PRIVATE_KEY|CREDENTIAL)",
                         re.IGNORECASE)
PROBE = "ATTAIN_CONTRACT_PROBE_SECRET"


class Interrupted(BaseException):  # noqa: N818 (a kill, not an error: nothing may catch it)
    """Raised by :class:`ContractEngine` in place of a transaction: the sync is killed there."""


class ContractEngine(KitEngine):
    """A :class:`KitEngine` that counts its transactions (``calls``), keeps each one's
    :class:`Result` (``results``) and, with ``fail_at = k``, raises :class:`Interrupted` in place
    of the ``k``-th one (the ``k - 1`` before it committed, nothing after it runs)."""

    def __init__(self, store: Store, plugins: Plugins) -> None:
        super().__init__(store, plugins)
        self.calls = 0
        self.fail_at: int | None = None
        self.results: list[Result] = []

    def process(self, records: Any, tenant: str | None = None, default_tenant: str = "default",
                **kw: Any) -> Result:
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise Interrupted(f"the sync was interrupted at transaction {self.calls}")
        result = super().process(records, tenant, default_tenant, **kw)
        self.results.append(result)
        return result

    def total(self, since: int = 0) -> Result:
        """The results of the transactions from the ``since``-th on, added up."""
        out = Result()
        for r in self.results[since:]:
            out.add(r)
            out.rejections.extend(r.rejections)
        return out


def all_kpis(engine: Engine, tenant: str) -> dict[str, list[dict[str, object]]]:
    """The tenant's KPIs of every grouping (what two syncs must agree on)."""
    return {g: engine.kpis(tenant, g) for g in GROUPINGS}


class ConnectorContract:
    """Inherit in a class named ``Test…``; set :attr:`connector` and implement
    :meth:`make_source` and :meth:`delete_record` (and :meth:`secrets` if the connector has any).
    """

    #: the registered connector's name (used by the default :meth:`sync`)
    connector: str = ""
    tenant: str = "default"
    #: records per transaction in the default :meth:`sync`: small, so that the sample source
    #: takes several transactions (the interruption points)
    batch_size: int = 10
    #: True when the connector keeps a high-water mark: a resumed sync must read less than a
    #: clean one
    incremental: bool = False

    # -- what a connector's tests implement ------------------------------------------------------

    def make_source(self, directory: Path) -> Any:
        """A new source in ``directory`` holding the sample data (the same data on every call);
        whatever :meth:`sync` and :meth:`delete_record` take."""
        raise NotImplementedError("implement make_source(directory) in your contract class")

    def delete_record(self, source: Any) -> str:
        """Delete, in ``source``, one record that counts in some KPI (a won deal); returns the
        ``deal_id`` of its events."""
        raise NotImplementedError("implement delete_record(source) in your contract class")

    def secrets(self, source: Any) -> Sequence[str]:
        """The secret values (tokens, passwords) the sync of ``source`` is configured with."""
        return ()

    def broken_source(self, source: Any) -> Any | None:
        """A source whose sync fails (unreachable, refused credentials), to check the error
        shows no secret either; None: no such check."""
        return None

    def sync(self, engine: Engine, source: Any) -> Result:
        """One sync of ``source`` into ``engine`` for :attr:`tenant` (default: ``attain import``'s
        path through the connector :attr:`connector`)."""
        batch = read_through(engine, self.connector, str(source), self.tenant)
        return process_batch(engine, batch, self.tenant, self.batch_size)

    # -- fixtures ------------------------------------------------------------------------------

    @pytest.fixture
    def contract_engine(self, tmp_path: Path, attain_plugins: Plugins
                        ) -> Iterator[Callable[[], ContractEngine]]:
        """``contract_engine()``: a new :class:`ContractEngine` over a new SQLite database."""
        engines: list[ContractEngine] = []

        def make() -> ContractEngine:
            url = f"sqlite:///{tmp_path / f'contract-{uuid.uuid4().hex[:10]}.db'}"
            engine = ContractEngine(Store(url, migrations=attain_plugins.migrations.values()),
                                    attain_plugins)
            engines.append(engine)
            return engine

        yield make
        for e in engines:
            e.store.dispose()

    @pytest.fixture
    def contract_source(self, tmp_path: Path) -> Callable[[str], Any]:
        """``contract_source(name)``: a new sample source in its own folder."""
        def make(name: str) -> Any:
            folder = tmp_path / f"source-{name}"
            folder.mkdir()
            return self.make_source(folder)
        return make

    # -- the contract --------------------------------------------------------------------------

    def _clean(self, contract_engine: Callable[[], ContractEngine], source: Any
               ) -> tuple[ContractEngine, dict[str, Any]]:
        engine = contract_engine()
        self.sync(engine, source)
        return engine, all_kpis(engine, self.tenant)

    def test_contract_every_event_is_valid(self, contract_engine: Callable[[], ContractEngine],
                                           contract_source: Callable[[str], Any]) -> None:
        engine = contract_engine()
        self.sync(engine, contract_source("valid"))
        total = engine.total()
        reasons = [f"{r.source}: {r.reason}" for r in total.rejections][:5]
        assert total.rejected == 0 and total.conflicts == 0, (
            f"the sync dead-lettered {total.rejected} invalid and {total.conflicts} conflicting "
            f"events, e.g. {reasons}")
        assert total.accepted > 0, "the sample source gave no event at all"
        assert engine.store.deadletters(self.tenant) == []
        assert engine.kpis(self.tenant, "all"), "the sample source counts in no KPI"

    def test_contract_resync_is_idempotent(self, contract_engine: Callable[[], ContractEngine],
                                           contract_source: Callable[[str], Any]) -> None:
        source = contract_source("twice")
        engine, once = self._clean(contract_engine, source)
        first = len(engine.results)
        self.sync(engine, source)
        again = engine.total(first)
        assert again.accepted == 0 and again.rejected == 0 and again.conflicts == 0, (
            f"syncing again changed the store: {again.summary()}")
        assert all_kpis(engine, self.tenant) == once, "syncing twice gives other KPIs than once"

    def test_contract_interrupted_sync_resumes(self, contract_engine: Callable[[], ContractEngine],
                                               contract_source: Callable[[str], Any]) -> None:
        source = contract_source("resume")
        clean, want = self._clean(contract_engine, source)
        calls, read = clean.calls, _inputs(clean.total())
        assert calls >= 2, (f"the sample source is synced in {calls} transaction(s): make it need "
                            "at least two (a smaller batch_size or page size) to test resuming")
        for fail_at in sorted({2, calls // 2 + 1, calls}):
            engine = contract_engine()
            engine.fail_at = fail_at
            with pytest.raises(Interrupted):
                self.sync(engine, source)
            engine.fail_at = None
            done = len(engine.results)
            self.sync(engine, source)
            assert all_kpis(engine, self.tenant) == want, (
                f"interrupted at transaction {fail_at} of {calls} and resumed: other KPIs than "
                "one clean sync")
            if self.incremental:
                resumed = _inputs(engine.total(done))
                assert resumed < read, (
                    f"interrupted at transaction {fail_at} of {calls}, the resumed sync read "
                    f"{resumed} events again, a clean one reads {read}: it did not resume from "
                    "its high-water mark")

    def test_contract_deletes_are_honoured(self, contract_engine: Callable[[], ContractEngine],
                                           contract_source: Callable[[str], Any]) -> None:
        source = contract_source("delete")
        engine, before = self._clean(contract_engine, source)
        deal_id = self.delete_record(source)
        live = [d.status for d in engine.snapshots(self.tenant, [deal_id])]
        assert live and live != ["deleted"], (
            f"delete_record returned {deal_id!r}, which the first sync did not import as a live deal")
        self.sync(engine, source)
        assert [d.status for d in engine.snapshots(self.tenant, [deal_id])] == ["deleted"], (
            f"deal {deal_id!r} was deleted in the source, but its snapshot is not 'deleted'")
        after = all_kpis(engine, self.tenant)
        assert after != before, f"deleting deal {deal_id!r} changed no KPI: it should have counted"
        fresh = contract_source("deleted-before")
        assert self.delete_record(fresh) == deal_id
        _, want = self._clean(contract_engine, fresh)
        assert after == want, ("after the delete, the KPIs differ from a clean sync of the source "
                               "without the record")

    def test_contract_secrets_never_in_logs(self, contract_engine: Callable[[], ContractEngine],
                                            contract_source: Callable[[str], Any],
                                            caplog: pytest.LogCaptureFixture,
                                            capfd: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
        probe = f"probe-{uuid.uuid4().hex}"
        monkeypatch.setenv(PROBE, probe)
        caplog.set_level(logging.DEBUG)
        caplog.set_level(logging.DEBUG, logger="attain")
        source = contract_source("secrets")
        texts: list[str] = []
        engine = contract_engine()
        self.sync(engine, source)
        broken = self.broken_source(source)
        if broken is not None:
            try:
                self.sync(contract_engine(), broken)
            except Exception as exc:  # the error itself is shown to the user
                texts += [str(exc), repr(exc)]
            else:
                pytest.fail("the sync of broken_source(source) did not fail")
        out, err = capfd.readouterr()
        texts += [out, err, caplog.text]
        texts += [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
        texts += [r.reason for r in engine.store.deadletters(self.tenant)]
        secrets = {*self.secrets(source), probe,
                   *(v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= 6)}
        leaked = sorted(k for k, v in os.environ.items() if v in secrets and any(v in t for t in texts))
        leaked += [f"secret #{i}" for i, s in enumerate(self.secrets(source))
                   if any(s in t for t in texts)]
        assert not leaked, f"secret values are in the sync's logs or output: {leaked}"


def _inputs(result: Result) -> int:
    return result.accepted + result.duplicates + result.stale + result.conflicts + result.rejected

