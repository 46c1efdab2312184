"""The wheel works on its own: built as a release builds it (``python -m build``: an sdist, then a
wheel from it), installed into a fresh virtualenv outside the checkout, and run from a folder
outside it: the demo on the bundled data, ``attain schema``, ``attain plugins list``. Every file
the packages need (bundled data, migrations, templates, static files) must be inside the wheel,
and nothing may import from the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the checkout's folders and the package each installs as (pyproject's package-dir)
PACKAGE_DIRS = {"core": "attain/core", "plugins": "attain/plugins", "streams": "attain/streams",
                "testing": "attain/testing"}


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def tracked_package_files() -> list[str]:
    """The files git tracks in the package folders, as paths inside the wheel."""
    out = run(["git", "ls-files", *PACKAGE_DIRS], ROOT).stdout.split()
    files = []
    for path in out:
        top, _, rest = path.partition("/")
        if not (ROOT / path).is_file():  # deleted in the work tree, not yet committed
            continue
        files.append(f"{PACKAGE_DIRS[top]}/{rest}")
    return files


#: one build for the module: its tests stay on one xdist worker (under ``-n 3`` each worker would
#: otherwise run the module fixture, two builds at once)
pytestmark = pytest.mark.xdist_group("wheel")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist and the wheel, built from a copy of the checkout's tracked files (as in the work
    tree). Not from the checkout itself: setuptools writes its staging folder (``attain-0.1.0/``,
    ``build/``, ``attain.egg-info``) into the source folder, so a build there races any other
    build of it and leaves files behind."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("the wheel is built from the tracked files of a git checkout: "
                    "run from a clone (an unpacked sdist has no .git)")
    src = tmp_path_factory.mktemp("src")
    for path in run(["git", "ls-files", "-z"], ROOT).stdout.split("\0"):
        if path and (ROOT / path).is_file():  # a file deleted in the work tree is left out
            (src / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / path, src / path)
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(src)], src)
    sdists, wheels = sorted(out.glob("attain-*.tar.gz")), sorted(out.glob("attain-*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, sorted(p.name for p in out.iterdir())
    return sdists[0], wheels[0]


def test_the_wheel_holds_every_file_of_the_packages(built: tuple[Path, Path]) -> None:
    _, wheel = built
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in tracked_package_files() if f not in names]
    assert missing == []
    # and the metadata says what the project says
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "License-Expression: Apache-2.0" in text
    assert "Requires-Python: >=3.11" in text


def test_the_installed_wheel_runs_the_demo_outside_the_checkout(built: tuple[Path, Path],
                                                               tmp_path: Path) -> None:
    _, wheel = built
    venv = tmp_path / "venv"
    uv = str(ROOT / "scripts" / "uv")
    run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], tmp_path)
    py = venv / "bin" / "python"
    run([uv, "pip", "install", "--quiet", "--python", str(py), f"{wheel}[streams,postgres]"], tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "ATTAIN_DATABASE_URL", "ATTAIN_LOAD_PLUGINS",
                        "ATTAIN_DISABLE_PLUGINS", "COV_CORE_SOURCE", "COVERAGE_PROCESS_START")}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "data"), COLUMNS="100")
    attain = str(venv / "bin" / "attain")

    # nothing comes from the checkout: every attain package is the installed one
    # (attain.testing, the pytest plugin, needs pytest: it is not a runtime dependency)
    where = run([str(py), "-c", "import json, attain.core, attain.plugins.goals, attain.streams; "
                 "print(json.dumps([m.__file__ for m in (attain.core, attain.plugins.goals, "
                 "attain.streams)]))"], work, env).stdout
    for f in json.loads(where):
        assert Path(f).resolve().is_relative_to(venv.resolve()), f
        assert not Path(f).resolve().is_relative_to(ROOT), f

    demo = run([attain, "demo", "--format", "json"], work, env, timeout=300)
    data = json.loads(demo.stdout)
    assert data["summary"]["won_deals"] == 4238  # the bundled export's won deals (its README)
    assert (tmp_path / "data").exists()  # the demo database went to the data directory

    schema = json.loads(run([attain, "schema"], work, env).stdout)
    assert "deal" in json.dumps(schema)
    listed = {p["name"] for p in json.loads(run([attain, "plugins", "list", "--format", "json"],
                                                work, env).stdout)}
    assert {"crm_csv", "crm_salesforce", "goals", "incentives", "maturity", "streams"} <= listed
    # the extras pulled exactly what the worker and PostgreSQL need
    run([str(py), "-c", "import faust, aiokafka, psycopg"], work, env)
    version = run([attain, "--version"], work, env).stdout
    assert version.startswith("attain 0.1.0 ")
    assert "faust-streaming not installed" not in version
