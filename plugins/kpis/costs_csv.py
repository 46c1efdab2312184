"""``attain import costs FILE.csv``: cost events from a CSV file.

The header names the columns (any order): ``cost_id``, ``category`` (marketing | sales |
other) and ``amount`` are required, and ``period`` (``2017-07``, ``2017-Q3``, ``2017``) or
``occurred_at`` (ISO-8601); ``currency`` (default USD), ``channel``, ``campaign``, ``event_id``
(default ``cost:<cost_id>``) and ``tenant`` are optional. An empty cell is a missing value.

A file that cannot be read (missing, not UTF-8, no header, a missing or unknown column) stops
the import with one error and imports nothing. A row that is not a valid cost (``amount`` ``abc``,
``category`` ``travel``) is a dead letter with its line (``costs.csv:7``); the other rows count.
Importing the same file again changes nothing: every row's event id is seen already.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from attain.core import Batch, ConnectorError, Record

REQUIRED = ("cost_id", "category", "amount")
OPTIONAL = ("period", "occurred_at", "currency", "channel", "campaign", "event_id", "tenant")


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            table = list(csv.reader(f))
    except FileNotFoundError:
        raise ConnectorError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConnectorError(f"{path}: is a folder, not a CSV file") from None
    except UnicodeDecodeError:
        raise ConnectorError(f"{path}: not UTF-8 text") from None
    except csv.Error as exc:
        raise ConnectorError(f"{path}: not CSV ({exc})") from None
    if not table or not any(c.strip() for c in table[0]):
        raise ConnectorError(f"{path}: empty (a header with {', '.join(REQUIRED)} is needed)")
    header = [c.strip() for c in table[0]]
    missing = [c for c in REQUIRED if c not in header]
    if "period" not in header and "occurred_at" not in header:
        missing.append("period or occurred_at")
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    problems = []
    if missing:
        problems.append(f"missing column {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column {', '.join(unknown)} (known: {', '.join(REQUIRED + OPTIONAL)})")
    if len(set(header)) != len(header):
        problems.append("a column appears twice")
    if problems:
        raise ConnectorError(f"{path}: {'; '.join(problems)}; nothing was imported")
    return header, table[1:]


class CostsConnector:
    name = "costs"
    description = "cost events (marketing, sales, other) from a CSV file"

    def read(self, source: str, tenant: str) -> Batch:
        path = Path(source)
        header, rows = _rows(path)
        records = list(self._records(path.name, header, rows))
        warnings = [] if records else [f"{path}: a header and no rows: nothing to import"]
        return Batch(records=records, total=len(records), warnings=warnings)

    @staticmethod
    def _records(name: str, header: list[str], rows: list[list[str]]) -> Iterator[Record]:
        for line, row in enumerate(rows, start=2):
            if not any(c.strip() for c in row):
                continue  # a blank line
            source = f"{name}:{line}"
            if len(row) != len(header):
                yield Record(",".join(row), source=source, line=line,
                             reason=f"{len(row)} fields where the header has {len(header)}")
                continue
            data: dict[str, str] = {"type": "cost"}
            data.update((k, v.strip()) for k, v in zip(header, row, strict=True) if v.strip())
            if "cost_id" in data:
                data.setdefault("event_id", f"cost:{data['cost_id']}")
            yield Record(data, source=source, line=line)


__all__ = ["CostsConnector"]
