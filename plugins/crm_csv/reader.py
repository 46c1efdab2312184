"""Reading one CSV file of the export: bytes → text → header and rows, with line numbers.

Whatever makes a whole file unusable (empty, not UTF-8 text, a NUL byte, a CSV syntax error, a
missing column) is reported as one sentence naming the file (and the line); the connector turns
those into a single :class:`~attain.core.connectors.ConnectorError` before anything is imported.
A row whose field count differs from the header's is kept, marked, for the caller to reject.
"""

from __future__ import annotations

import csv
import difflib
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


class FileProblem(Exception):
    """A file that cannot be used at all; the message names the file (and the line)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: ``line`` is the file line it starts on; ``fields`` as many as were there."""

    line: int
    fields: tuple[str, ...]
    values: dict[str, str]  # by column name; missing trailing columns are absent

    def get(self, column: str) -> str | None:
        return self.values.get(column)


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    header: tuple[str, ...]
    rows: tuple[Row, ...]

    def field_count_problem(self, row: Row) -> str | None:
        """``truncated row: …`` / ``too many fields: …`` when ``row`` does not fit the header."""
        want, got = len(self.header), len(row.fields)
        if got < want:
            return f"truncated row: expected {want} fields, got {got}"
        if got > want:
            return f"too many fields: expected {want} fields, got {got}"
        return None


def _text(path: Path) -> str:
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileProblem(f"{name}: cannot read: {exc.strerror or exc}") from exc
    if not data:
        raise FileProblem(f"{name} is empty (0 bytes)")
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise FileProblem(f"{name}:{line}: contains a NUL byte: not a CSV text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileProblem(f"{name}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                          "save the file as UTF-8") from exc


def read_table(path: Path) -> Table:
    """The header and rows of ``path``; raises :class:`FileProblem` if it is not a CSV file."""
    name = path.name
    reader = csv.reader(io.StringIO(_text(path), newline=""))
    header: tuple[str, ...] | None = None
    rows: list[Row] = []
    end = 0  # the last line the reader consumed
    try:
        for fields in reader:
            start, end = end + 1, reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line
            if header is None:
                header = tuple(f.strip() for f in fields)
                continue
            rows.append(Row(start, tuple(fields), dict(zip(header, fields, strict=False))))
    except csv.Error as exc:
        raise FileProblem(f"{name}:{reader.line_num}: not valid CSV: {exc}") from exc
    if header is None:
        raise FileProblem(f"{name} has no header line (only blank lines)")
    return Table(name, header, tuple(rows))


def header_problem(table: Table, required: tuple[str, ...]) -> str | None:
    """What is wrong with the header of ``table`` for these ``required`` columns, if anything."""
    have = Counter(table.header)
    missing = [c for c in required if c not in have]
    if len(missing) == len(required):
        shown = ",".join(table.header)
        return (f"{table.name}: none of the columns {', '.join(required)} (header: "
                f"{shown if len(shown) <= 80 else shown[:77] + '...'!r})")
    parts = []
    if missing:
        others = [c for c in table.header if c not in required]
        named = []
        for c in missing:
            near = difflib.get_close_matches(c, others, n=1)
            named.append(f"{c} (found {near[0]!r})" if near else c)
        parts.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(named)}")
    twice = [c for c in required if have[c] > 1]
    if twice:
        parts.append(f"column{'s' if len(twice) > 1 else ''} {', '.join(twice)} "
                     f"appear{'' if len(twice) > 1 else 's'} twice")
    return f"{table.name}: {'; '.join(parts)}" if parts else None
