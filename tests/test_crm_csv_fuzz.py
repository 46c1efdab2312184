"""Fuzz: broken CRM exports through the crm-csv connector and the engine (in-process, SQLite).

Hypothesis builds small exports in the bundled layout — a sample of the bundled pipeline rows
and the bundled reference files — and breaks them: bad values in random cells, header columns
deleted or renamed, files cut at a random byte, random bytes injected, files emptied. Each export
is imported with ``attain import``'s own code path, and:

* the import never fails with anything but a ``ConnectorError`` (a whole-file problem), and then
  nothing at all is imported; it fails exactly when the pipeline file cannot be used (a
  reference file's problem may fail it too, naming that file);
* otherwise every pipeline row is accounted for: a valid row's snapshots are all in the event
  log (a row repeated identically: as duplicates), an invalid row — or a row whose
  opportunity_id another row gives other values — is exactly one dead letter
  (``sales_pipeline.csv:LINE``) and none of its snapshots count;
* the deal KPIs (won revenue, won / lost / open deals, overall and per rep) are those of the
  valid rows alone.

"Valid" is decided by the small reference below, in plain Python from the documented layout
and event rules, not by the connector's code.

The default run is short (``ATTAIN_FUZZ_EXAMPLES``, default 30). A longer run:
``ATTAIN_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest tests/test_crm_csv_fuzz.py``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from attain.core.cli import import_source
from attain.core.connectors import ConnectorError
from attain.core.engine import Engine
from attain.core.plugins import Plugins
from attain.core.store import Store
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from testkit import BUNDLED_DIR

EXAMPLES = int(os.environ.get("ATTAIN_FUZZ_EXAMPLES", "30"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PIPELINE = "sales_pipeline.csv"
FILES = (PIPELINE, "sales_teams.csv", "accounts.csv", "products.csv")
# The layout (core/data/crm-sales-opportunities/README.md): the columns the connector reads.
REQUIRED = {
    PIPELINE: ("opportunity_id", "sales_agent", "product", "account", "deal_stage",
               "engage_date", "close_date", "close_value"),
    "sales_teams.csv": ("sales_agent", "manager", "regional_office"),
    "accounts.csv": ("account", "sector", "subsidiary_of"),
    "products.csv": ("product", "series", "sales_price"),
}
STAGES = {"Prospecting", "Engaging", "Won", "Lost"}

BUNDLED = {name: (BUNDLED_DIR / name).read_bytes() for name in FILES}
HEADER, *ROWS = list(csv.reader(io.StringIO(BUNDLED[PIPELINE].decode(), newline="")))

# Values a real export gets wrong, per column (plus any bundled value of that column).
ODD_VALUES = {
    "opportunity_id": ["", "  "],
    "sales_agent": ["", " "],
    "product": ["", "GTXPro", "gtx pro", "Unknown"],
    "account": ["", "Nowhere Inc"],
    "deal_stage": ["", "Closed", "Wonn", " Won ", "Lost "],
    "engage_date": ["", "2017-13-45", "2017-02-30", "31/12/2017", "abc", "2016-1-5"],
    "close_date": ["", "2017-13-45", "2016-01-01", "2017-02-29", "n/a", "2018-12-31"],
    "close_value": ["", "abc", "12O4", "1,234.00", "-5", "NaN", "1e400", "0", "12.5", " 7 ",
                    "123456789012345"],
}


# -- the reference: what should happen, from the layout and the event rules ----------------------


class WholeFile(Exception):
    """The file cannot be used at all (the import must stop)."""


def parse(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (start line, fields) rows of a CSV file; blank lines are skipped."""
    if not data or b"\0" in data:
        raise WholeFile("empty or binary")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WholeFile("not UTF-8") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    last = 0
    try:
        for fields in reader:
            start, last = last + 1, reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if header is None:
                header = [f.strip() for f in fields]
            else:
                rows.append((start, fields))
    except csv.Error as exc:
        raise WholeFile("not CSV") from exc
    if header is None:
        raise WholeFile("no header")
    return header, rows


def check_header(header: list[str], required: tuple[str, ...]) -> None:
    counts = Counter(header)
    if any(counts[c] != 1 for c in required):
        raise WholeFile("a required column is missing or twice")


def iso_date(text: str) -> dt.date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def money(text: str) -> Decimal | None:
    """A deal amount: a finite number ≥ 0 with at most 14 digits before the point and 6 after
    (the event model's 20 digits, 6 decimal places)."""
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not d.is_finite() or d < 0:
        return None
    sign, digits, exp = d.normalize().as_tuple()
    assert isinstance(exp, int)
    places = max(-exp, 0)
    whole = len(digits) + exp if exp >= 0 else max(len(digits) - places, 0)
    return d if places <= 6 and whole <= 14 else None


@dataclass
class Expected:
    snapshots: dict[str, int] = field(default_factory=dict)  # deal id -> events
    rejected_lines: list[int] = field(default_factory=list)
    duplicates: int = 0  # snapshots of rows repeated identically
    kpis: dict[str | None, dict[str, object]] = field(default_factory=dict)  # rep -> 4 KPIs

    def count(self, rep: str | None, kpi: str, by: object = 1) -> None:
        for key in (rep, "__all__"):
            row = self.kpis.setdefault(key, {"won_revenue": Decimal(0), "won_deals": 0,
                                             "lost_deals": 0, "open_deals": 0})
            row[kpi] += by  # type: ignore[operator]


def row_snapshots(header: list[str], fields: list[str]) -> tuple[int, dict[str, str]] | None:
    """How many snapshots a pipeline row makes, or None if the row is invalid."""
    if len(fields) != len(header):
        return None
    r = {k: v.strip() for k, v in zip(header, fields, strict=True)}
    if not r["opportunity_id"] or not r["sales_agent"] or r["deal_stage"] not in STAGES:
        return None
    engaged = r["engage_date"]
    if engaged and iso_date(engaged) is None:
        return None
    n = 1 + (1 if engaged and r["deal_stage"] != "Prospecting" else 0)
    if r["deal_stage"] in ("Won", "Lost"):
        closed = r["close_date"]
        if closed and iso_date(closed) is None:
            return None
        if closed and engaged and iso_date(closed) < iso_date(engaged):  # type: ignore[operator]
            return None
        if money(r["close_value"]) is None:
            return None
        n += 1
    return n, r


def expected(files: dict[str, bytes]) -> Expected:
    """What importing ``files`` must do; raises WholeFile if the pipeline cannot be used."""
    header, rows = parse(files[PIPELINE])
    check_header(header, REQUIRED[PIPELINE])
    # One opportunity on several rows with different values: none of them counts.
    idx = header.index("opportunity_id")
    versions: dict[str, set[tuple[str, ...]]] = {}
    for _, fields in rows:
        if len(fields) > idx and fields[idx].strip():
            versions.setdefault(fields[idx].strip(), set()).add(tuple(f.strip() for f in fields))
    out = Expected()
    for line, fields in rows:
        got = row_snapshots(header, fields)
        if got is None or len(versions[fields[idx].strip()]) > 1:
            out.rejected_lines.append(line)
            continue
        n, r = got
        if r["opportunity_id"] in out.snapshots:  # the same row again
            out.duplicates += n
            continue
        out.snapshots[r["opportunity_id"]] = n
        stage, rep = r["deal_stage"], r["sales_agent"]
        if stage == "Won":
            out.count(rep, "won_deals")
            out.count(rep, "won_revenue", money(r["close_value"]))
        elif stage == "Lost":
            out.count(rep, "lost_deals")
        else:
            out.count(rep, "open_deals")
    return out


def reference_file_problem(name: str, data: bytes) -> bool:
    """Whether a reference file is unusable by the layout alone (the import may also refuse a
    reference file for a bad row: any stop must then name the file)."""
    try:
        header, _ = parse(data)
        check_header(header, REQUIRED[name])
    except WholeFile:
        return True
    return False


# -- the generator: small exports, broken ---------------------------------------------------------


Edit = Callable[[bytes], bytes]


@st.composite
def cell_edits(draw: st.DrawFn, rows: list[list[str]]) -> list[list[str]]:
    out = [list(r) for r in rows]
    for _ in range(draw(st.integers(0, 4)) if out else 0):
        i = draw(st.integers(0, len(out) - 1))
        col = draw(st.integers(0, len(HEADER) - 1))
        name = HEADER[col]
        out[i][col] = draw(st.sampled_from(ODD_VALUES[name]) | st.sampled_from(
            [r[col] for r in ROWS[:200]]))
    return out


def _header_edit(delete: bool, index: int, new: str) -> Edit:
    def edit(data: bytes) -> bytes:
        head, sep, rest = data.partition(b"\n")
        names = head.decode("utf-8", "replace").split(",")
        i = index % len(names)
        if delete:
            del names[i]
        else:
            names[i] = new
        return ",".join(names).encode() + sep + rest
    return edit


def _truncate(at: float) -> Edit:
    return lambda data: data[:int(len(data) * at)]


def _inject(at: float, noise: bytes) -> Edit:
    def edit(data: bytes) -> bytes:
        i = int(len(data) * at)
        return data[:i] + noise + data[i:]
    return edit


NOISE = st.one_of(
    st.binary(min_size=1, max_size=4),
    st.sampled_from([b",", b"\n", b"\r", b'"', b"\r\n", b" ", b"\xff", b"\xc3\xa9", b"\x00",
                     b"x", b"7", b"-", b"."]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
            min_size=1, max_size=3).map(str.encode),
)

EDITS = st.one_of(
    st.builds(_header_edit, st.booleans(), st.integers(0, 20),
              st.sampled_from(["close_val", "Close_Value", "x", "", "product"])),
    st.builds(_truncate, st.floats(0, 1)),
    st.builds(_inject, st.floats(0, 1), NOISE),
    st.just(lambda data: b""),
    st.just(lambda data: data[:data.find(b"\n") + 1]),  # header only
)


@st.composite
def exports(draw: st.DrawFn) -> dict[str, bytes]:
    picked = draw(st.lists(st.integers(0, len(ROWS) - 1), max_size=25, unique=True))
    rows = draw(cell_edits([ROWS[i] for i in picked]))
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([HEADER, *rows])
    files = dict(BUNDLED, **{PIPELINE: buf.getvalue().encode()})
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from([PIPELINE, PIPELINE, PIPELINE, *FILES[1:]]))
        files[name] = draw(EDITS)(files[name])
    return files


# -- the property ----------------------------------------------------------------------------------


def plugins() -> Plugins:
    from attain.plugins import crm_csv

    p = Plugins(load_entry_points=False)
    p.register(crm_csv, name="crm_csv")
    return p


def stored(db: Path) -> tuple[dict[str, int], list[str], int]:
    """(deal id -> events in the log, dead-letter sources, reps) straight from the database."""
    con = sqlite3.connect(db)
    try:
        events = dict(con.execute("SELECT entity_id, count(*) FROM events WHERE tenant = "
                                  "'default' GROUP BY entity_id").fetchall())
        dead = [s for (s,) in con.execute("SELECT source FROM deadletters")]
        reps = con.execute("SELECT count(*) FROM reps").fetchone()[0]
    finally:
        con.close()
    return events, dead, reps


def deal_kpis(engine: Engine) -> dict[str | None, dict[str, object]]:
    names = ("won_revenue", "won_deals", "lost_deals", "open_deals")
    out: dict[str | None, dict[str, object]] = {}
    for key, by in (("__all__", "all"), (None, "rep")):
        for row in engine.kpis("default", by):
            values = {k: row[k] for k in names}
            if any(values.values()):
                out[row["key"] if key is None else key] = values
    return out


@SETTINGS
@given(files=exports())
def test_broken_exports_lose_no_valid_row(files: dict[str, bytes]) -> None:
    try:
        want: Expected | None = expected(files)
    except WholeFile:
        want = None
    bad_reference = {n for n in FILES[1:] if reference_file_problem(n, files[n])}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "export"
        root.mkdir()
        for name, data in files.items():
            (root / name).write_bytes(data)
        db = Path(tmp) / "attain.db"
        store = Store(f"sqlite:///{db}")
        engine = Engine(store, plugins())
        try:
            try:
                result = import_source(engine, "crm-csv", str(root), "default", quiet=True)
            except ConnectorError as exc:
                message = str(exc)
                named = {n for n in FILES if n in message}
                assert named, message
                if want is None:
                    assert PIPELINE in named, message
                # It stops for the pipeline exactly when the pipeline is unusable; a reference
                # file may stop it too, and must be named then.
                assert want is None or named <= set(FILES[1:]), message
                assert stored(db) == ({}, [], 0), "something was imported"
                event("stopped: " + ("pipeline" if want is None else "a reference file"))
                return
            assert want is not None, "an unusable pipeline file was imported"
            assert not bad_reference, f"an unusable reference file was imported: {bad_reference}"
            events, dead, _ = stored(db)
            assert events == want.snapshots
            assert sorted(dead) == sorted(f"{PIPELINE}:{n}" for n in want.rejected_lines)
            assert (result.accepted, result.rejected, result.duplicates, result.stale) == (
                sum(want.snapshots.values()), len(want.rejected_lines), want.duplicates, 0)
            assert deal_kpis(engine) == want.kpis
            event("imported, with dead letters" if want.rejected_lines else "imported, all rows")
            batch = engine.plugins.connectors["crm-csv"].read(str(root), "default")
            assert batch.total == len(list(batch.records))
        finally:
            store.dispose()
