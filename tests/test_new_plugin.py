"""``attain new-plugin``: the packages it renders, its errors, and a generated connector package
installed in a fresh virtualenv: discovered by ``attain plugins list``, passing its own tests
(the connector contract suite) there, and importing through ``attain import NAME``."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import sysconfig
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from attain.testing import CliRunner, load_json

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "plugins" / "plugin_kit" / "templates"


@pytest.fixture
def cli(tmp_path: Path) -> CliRunner:
    return CliRunner(f"sqlite:///{tmp_path / 'kit.db'}")


EXPECTED = {
    "connector": {"attain_acme_crm/__init__.py", "attain_acme_crm/client.py",
                  "attain_acme_crm/connector.py", "attain_acme_crm/events.py",
                  "attain_acme_crm/state.py", "tests/conftest.py", "tests/sample.py",
                  "tests/test_contract.py", "tests/test_events.py"},
    "metric": {"attain_acme_crm/__init__.py", "tests/test_metric.py"},
    "rule": {"attain_acme_crm/__init__.py", "tests/test_rule.py"},
}
COMMON = {"pyproject.toml", "README.md", ".github/workflows/ci.yml", ".gitignore"}


@pytest.mark.parametrize("kind", ["connector", "metric", "rule"])
def test_each_kind_is_a_package_with_entry_point_tests_readme_and_ci(cli: CliRunner, tmp_path: Path,
                                                                     kind: str) -> None:
    out = tmp_path / kind
    res = cli("new-plugin", "acme-crm", "--kind", kind, "--output", str(out))
    assert res.stdout.splitlines()[0] == f"created attain-acme-crm ({kind}) in {out}: " \
        f"{len(COMMON | EXPECTED[kind])} files"
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert files == COMMON | EXPECTED[kind]
    project = tomllib.loads((out / "pyproject.toml").read_text())
    assert project["project"]["name"] == "attain-acme-crm"
    assert project["project"]["entry-points"]["attain"] == {"acme_crm": "attain_acme_crm"}
    assert project["tool"]["setuptools"]["packages"] == ["attain_acme_crm"]
    assert any(d.startswith("attain>=") for d in project["project"]["dependencies"])
    ci = yaml.safe_load((out / ".github/workflows/ci.yml").read_text())
    steps = [s.get("run", "") for s in ci["jobs"]["test"]["steps"]]
    assert 'python -m pip install -e ".[test]"' in steps and "pytest -q" in steps
    assert ci["jobs"]["test"]["strategy"]["matrix"]["python"] == ["3.11", "3.12"]
    assert "{{" not in "".join(p.read_text() for p in out.rglob("*") if p.is_file()
                               and p.name != "ci.yml")  # every template placeholder rendered
    for py in out.rglob("*.py"):  # valid Python
        compile(py.read_text(), str(py), "exec")
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=out,
                          capture_output=True, text=True, timeout=120)  # its CI's first step
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    if kind != "connector":  # (the connector's tests run in a fresh virtualenv below)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_CORE"))}
        env["PYTHONPATH"] = os.pathsep.join([str(out), env.get("PYTHONPATH", "")])
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                "-p", "no:cov"], cwd=out, capture_output=True, text=True, env=env,
                               timeout=300)
        want = {"metric": "2 passed", "rule": "3 passed"}[kind]
        assert tests.stdout.strip().splitlines()[-1].startswith(want), tests.stdout + tests.stderr


def test_bad_names_existing_folders_taken_names_and_kinds_are_one_line_errors(cli: CliRunner,
                                                                              tmp_path: Path) -> None:
    cases = [
        (["Acme_CRM"], "error: 'Acme_CRM' is not a valid plugin name: use lowercase letters, "
                       "digits and single hyphens, starting with a letter (e.g. acme-crm)"),
        (["acme--crm"], "error: 'acme--crm' is not a valid plugin name: use lowercase letters, "
                        "digits and single hyphens, starting with a letter (e.g. acme-crm)"),
        (["crm-csv"], "error: a plugin named 'crm_csv' is already installed: choose another name"),
        (["acme", "--kind", "report"], "error: unknown kind 'report': choose one of connector, "
                                       "metric, rule"),
    ]
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    cases.append((["acme", "--output", str(taken)],
                  f"error: {taken} already exists: choose another --output or remove it"))
    for args, line in cases:
        res = cli("new-plugin", *args, "--output", str(tmp_path / "new"), ok=False) \
            if "--output" not in args else cli("new-plugin", *args, ok=False)
        assert res.exit_code == 2, args
        assert res.stderr.strip().splitlines() == [line]
    assert (taken / "keep.txt").read_text() == "mine" and not (tmp_path / "new").exists()


def test_the_templates_are_package_data() -> None:
    """Every template file is matched by the package-data glob (setuptools' own glob rule:
    recursive, hidden files never), so a wheel ships them all."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["attain.plugins.plugin_kit"]
    base = TEMPLATES.parent
    matched = {Path(p) for pat in patterns for p in glob.glob(str(base / pat), recursive=True)
               if Path(p).is_file()}
    files = {p for p in TEMPLATES.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert files and files == matched
    assert not [p for p in files if any(part.startswith(".") for part in p.relative_to(base).parts)]


# -- a fresh virtualenv ------------------------------------------------------------------------


def fresh_venv(where: Path) -> Path:
    """A virtualenv without pip whose site-packages reuses this environment's third-party
    packages (symlinked: no download) but not Attain nor any Attain plugin, which are installed
    into it from their folders. Returns its ``bin`` directory."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True,
                   timeout=120)
    bindir = where / "bin"
    site = Path(subprocess.run([str(bindir / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    outer = Path(sysconfig.get_paths()["purelib"])
    for entry in outer.iterdir():
        name = entry.name.lower()
        if "attain" in name or name.endswith(".pth") or name in ("pip", "__pycache__") \
                or name.startswith("pip-"):
            continue
        (site / entry.name).symlink_to(entry)
    return bindir


def run(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ATTAIN_", "PYTEST_", "COV_CORE")) and k != "PYTHONPATH"}
    env.update(kw.pop("env", {}))
    kw.setdefault("cwd", "/")  # not the checkout: its build metadata may be older than the install
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, **kw)
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_a_generated_connector_works_from_a_fresh_virtualenv(cli: CliRunner, tmp_path: Path) -> None:
    pkg = tmp_path / "attain-acme-crm"
    cli("new-plugin", "acme-crm", "--output", str(pkg))
    bindir = fresh_venv(tmp_path / "venv")
    py = str(bindir / "python")
    run([sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps",
         "--no-build-isolation", "--no-index", "-e", str(ROOT), "-e", str(pkg)])

    where = run([py, "-c", "import attain.core, attain_acme_crm; print(attain.core.__file__); "
                 "print(attain_acme_crm.__file__)"]).stdout.split()
    assert where == [str(ROOT / "core" / "__init__.py"),
                     str(pkg / "attain_acme_crm" / "__init__.py")]

    db = f"sqlite:///{tmp_path / 'venv.db'}"
    listed = json.loads(run([str(bindir / "attain"), "--db", db, "plugins", "list", "--format",
                             "json"]).stdout)
    mine = next(p for p in listed if p["name"] == "acme_crm")
    assert mine["distribution"] == "attain-acme-crm" and mine["version"] == "0.1.0"
    assert mine["provides"] == {"connectors": ["acme-crm"]}
    assert "attain_example_kpi" not in {p["distribution"] for p in listed}  # only what it installed

    tests = run([py, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-p", "no:cov"], cwd=pkg)
    assert tests.stdout.strip().splitlines()[-1].lstrip("= ").startswith("9 passed"), tests.stdout
    contract = [ln.split("::")[-1].split()[0] for ln in tests.stdout.splitlines()
                if "test_contract.py::" in ln and "PASSED" in ln]
    assert contract == ["test_contract_every_event_is_valid", "test_contract_resync_is_idempotent",
                        "test_contract_interrupted_sync_resumes", "test_contract_deletes_are_honoured",
                        "test_contract_secrets_never_in_logs"]

    # attain import through it: three deals, one won then deleted, one won, one open
    deals: list[dict[str, Any]] = [
        {"id": "A1", "owner": "Ann", "amount": "1200.50", "stage": "Closed Won", "status": "won",
         "closed_on": "2024-02-01", "updated_at": "2024-02-01T10:00:00Z", "deleted": False},
        {"id": "A2", "owner": "Bob", "amount": "800", "stage": "Closed Won", "status": "won",
         "closed_on": "2024-02-02", "updated_at": "2024-02-02T10:00:00Z", "deleted": False},
        {"id": "A3", "owner": "Ann", "amount": "300", "stage": "Proposal", "status": "open",
         "closed_on": None, "updated_at": "2024-02-03T10:00:00Z", "deleted": False},
    ]
    source = tmp_path / "export"
    source.mkdir()
    (source / "deals.json").write_text(json.dumps(deals))
    attain = [str(bindir / "attain"), "--db", db]
    env = {"ACME_CRM_API_TOKEN": "venv-token-5e1d"}
    first = run([*attain, "import", "-q", "acme-crm", str(source)], env=env)
    assert first.stdout.startswith("accepted 3")
    deals[1].update(deleted=True, updated_at="2024-02-05T10:00:00Z")
    (source / "deals.json").write_text(json.dumps(deals))
    second = run([*attain, "import", "-q", "acme-crm", str(source)], env=env)
    # from the mark (A3, 2024-02-03T10:00) minus 300 s: A3 again (a duplicate) and A2's delete
    assert second.stdout.startswith("accepted 1, duplicates 1")
    (row,) = load_json(run([*attain, "kpi", "--format", "json"]).stdout)
    assert row["won_revenue"] == Decimal("1200.50") and row["won_deals"] == 1
    assert row["open_deals"] == 1
    assert "venv-token-5e1d" not in first.stdout + first.stderr + second.stdout + second.stderr
