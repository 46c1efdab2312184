"""The ORM classes of the core's tables, for code written against earlier versions
(``from attain.core.store import MetaRow``): each mapped onto the Core table of :mod:`.schema`,
so both describe one schema. The core itself uses the tables (``meta_table`` …) and never
imports this module: importing it imports ``sqlalchemy.orm``. Prefer the tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import DeclarativeBase

from . import schema


class Base(DeclarativeBase):
    metadata = schema.metadata


class EventRow(Base):
    __table__ = schema.events_table


class DealRow(Base):
    __table__ = schema.deals_table


class DealLeadLinkRow(Base):
    __table__ = schema.deal_lead_links_table


class KpiRollupRow(Base):
    __table__ = schema.kpi_rollups_table


class DeadLetterRow(Base):
    __table__ = schema.deadletters_table
    if TYPE_CHECKING:  # (the columns are mapped from the table; these are for type checkers)
        raw: bytes | None
        payload: str

    @property
    def original(self) -> bytes:
        """The rejected input's bytes exactly as received (UTF-8 for text inputs)."""
        return self.raw if self.raw is not None else self.payload.encode("utf-8")


class RepRow(Base):
    __table__ = schema.reps_table


class AccountRow(Base):
    __table__ = schema.accounts_table


class ProductRow(Base):
    __table__ = schema.products_table


class FxRateRow(Base):
    __table__ = schema.fx_rates_table


class PluginSettingRow(Base):
    __table__ = schema.plugin_settings_table


class CounterRow(Base):
    __table__ = schema.counters_table


class MetaRow(Base):
    __table__ = schema.meta_table


class StreamOffsetRow(Base):
    __table__ = schema.stream_offsets_table


__all__ = ["AccountRow", "Base", "CounterRow", "DeadLetterRow", "DealLeadLinkRow", "DealRow",
           "EventRow", "FxRateRow", "KpiRollupRow", "MetaRow", "PluginSettingRow", "ProductRow",
           "RepRow", "StreamOffsetRow"]
