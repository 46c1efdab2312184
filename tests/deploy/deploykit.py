"""Helpers of the deploy tests: the repository's deploy files, promtool, the metrics contract of
docs/metrics.md, and PromQL selectors (parsed with promql-parser).

promtool comes from Debian's ``prometheus`` package (``scripts/prometheus install``; scripts/test
installs it). Without it the tests that need it are skipped locally and fail on CI (``CI=true``),
the rule of testkit.py for the PostgreSQL server: CI never passes by not running them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import promql_parser
import yaml
from testkit import missing_server

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PROMETHEUS_DIR = DEPLOY / "prometheus"
PROMETHEUS_YML = PROMETHEUS_DIR / "prometheus.yml"
ALERTS_YML = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST_YML = PROMETHEUS_DIR / "alerts_test.yml"
GRAFANA_DIR = DEPLOY / "grafana"
DASHBOARD_JSON = GRAFANA_DIR / "dashboards" / "attain.json"
DATASOURCES_YML = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDER_YML = GRAFANA_DIR / "provisioning" / "dashboards" / "attain.yml"
METRICS_MD = ROOT / "docs" / "metrics.md"
DEPLOY_MD = ROOT / "docs" / "deploy.md"
INSTALL_HINT = "run `scripts/prometheus install` (Debian's prometheus package: prometheus and promtool)"


def missing_tool(name: str, hint: str) -> None:
    """Skip (locally) or fail (on CI) a test that needs the program ``name``."""
    missing_server(f"{name} is not installed: {hint}")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        missing_tool("promtool", INSTALL_HINT)
    assert path is not None
    return path


def run_promtool(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, input=input,
                          timeout=120, check=False)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# -- the metrics contract (docs/metrics.md) --------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: str                      # counter | gauge | histogram
    labels: tuple[str, ...]
    exposed_by: str
    meaning: str


@dataclass
class Contract:
    metrics: dict[str, MetricSpec]
    # (metric, label) -> the allowed values; only for closed sets (see label_values)
    closed_values: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def series_names(self) -> dict[str, MetricSpec]:
        """Every series name the contract's metrics expose → its metric: a histogram's
        ``_bucket``/``_sum``/``_count``, a counter's ``_created`` (prometheus-client)."""
        out: dict[str, MetricSpec] = {}
        for spec in self.metrics.values():
            out[spec.name] = spec
            if spec.type == "histogram":
                for suffix in ("_bucket", "_sum", "_count", "_created"):
                    out[spec.name + suffix] = spec
            elif spec.type == "counter":
                out[spec.name.removesuffix("_total") + "_created"] = spec
        return out


def _table_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of the first Markdown table under ``## heading`` (header and rule excluded);
    ``\\|`` inside a cell is a literal bar."""
    m = re.search(rf"^## {re.escape(heading)}[ \t]*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert m, f"docs/metrics.md has no '## {heading}' section"
    rows = [line for line in m.group(1).splitlines() if line.startswith("|")]
    assert len(rows) > 2, f"no table under '## {heading}' in docs/metrics.md"
    out = []
    for line in rows[2:]:
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        out.append(cells)
    return out


def _ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]*)`", cell)


@cache
def contract() -> Contract:
    """docs/metrics.md's tables. A label's values are a closed set when its cell holds only
    backticked values separated by commas; a cell with prose (examples, "…") is an open set."""
    text = METRICS_MD.read_text(encoding="utf-8")
    metrics: dict[str, MetricSpec] = {}
    for cells in _table_rows(text, "Metrics"):
        assert len(cells) == 5, f"docs/metrics.md: a metrics row needs 5 cells: {cells}"
        names = _ticked(cells[0])
        assert len(names) == 1, f"docs/metrics.md: one `metric` per row: {cells[0]}"
        name = names[0]
        assert name not in metrics, f"docs/metrics.md lists {name} twice"
        labels = tuple(_ticked(cells[2]))
        metrics[name] = MetricSpec(name, cells[1], labels, cells[3], cells[4])
    c = Contract(metrics)
    for cells in _table_rows(text, "Label values"):
        assert len(cells) == 3, f"docs/metrics.md: a label values row needs 3 cells: {cells}"
        (label,) = _ticked(cells[0])
        values = _ticked(cells[2])
        closed = re.sub(r"`[^`]*`", "", cells[2]).replace(",", "").strip() == ""
        for metric in _ticked(cells[1]):
            assert metric in metrics, f"docs/metrics.md: label values of unknown metric {metric}"
            assert label in metrics[metric].labels, f"docs/metrics.md: {metric} has no label {label}"
            if closed:
                c.closed_values[(metric, label)] = set(values)
    return c


# -- PromQL ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selector:
    """A vector selector of an expression: its metric name and its label matchers."""
    name: str
    matchers: tuple[tuple[str, str, str], ...]   # (label, op: = != =~ !~, value)


_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of the PromQL ``expr`` (raises ValueError if it does not parse)."""
    found: list[Selector] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = tuple((m.name, _OPS[str(m.op)], m.value) for m in node.matchers.matchers)
            name = node.name or next((v for k, op, v in matchers if k == "__name__" and op == "="), "")
            found.append(Selector(name, tuple(m for m in matchers if m[0] != "__name__")))
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def literal_alternatives(op: str, value: str) -> list[str] | None:
    """The values a matcher selects when they are spelt out (``=`` a value, ``=~`` a plain
    alternation ``a|b``); None for any other regular expression or a negative matcher."""
    if op == "=":
        return [value]
    if op == "=~" and re.fullmatch(r"[\w.-]+(\|[\w.-]+)*", value):
        return value.split("|")
    return None


def check_rules_file(exprs: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    """``promtool check rules`` over a throwaway rules file with one recording rule per
    expression, in a group named after its key: Prometheus' own parser judges each one."""
    groups = [{"name": key, "rules": [{"record": f"check:expr_{i}", "expr": expr}]}
              for i, (key, expr) in enumerate(exprs.items())]
    path = tmp / "exprs.rules.yml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
    return run_promtool("check", "rules", str(path))


# -- Grafana ---------------------------------------------------------------------------------------

# Grafana's own variables, with what a query of the tests gets instead.
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
_VAR = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")


def dashboard_variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return list(dashboard.get("templating", {}).get("list", []))


def substitute(expr: str, values: dict[str, str]) -> str:
    """``expr`` with every ``$var`` / ``${var}`` replaced from ``values`` (KeyError for an
    unknown one)."""
    return _VAR.sub(lambda m: values[m.group(1) or m.group(2)], expr)


def variables_used(expr: str) -> set[str]:
    return {m.group(1) or m.group(2) for m in _VAR.finditer(expr)}


def iter_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, the panels of collapsed rows included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def is_row(panel: dict[str, Any]) -> bool:
    return panel.get("type") == "row"


def variable_query(var: dict[str, Any]) -> str:
    """A template variable's query text (Grafana stores a string or {"query": …})."""
    query = var["query"]
    return str(query["query"] if isinstance(query, dict) else query)


def label_values_query(query: str) -> tuple[str, str]:
    """``label_values(SELECTOR, LABEL)`` → (SELECTOR, LABEL)."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query, flags=re.S)
    assert m, f"a template variable's query is not label_values(selector, label): {query!r}"
    return m.group(1), m.group(2)
