"""The Dockerfile, parsed with buildkit's parser (the ``dockerfile`` package): a builder stage
makes the wheels, the final stage installs only those (no index) and runs ``attain`` as a non-root
user, nothing is installed when a container starts; and the wheel holds everything the image runs."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import dockerfile
import pytest

from .deploykit import DOCKERFILE, ROOT

pytestmark = pytest.mark.deploy

DOCKERIGNORE = ROOT / ".dockerignore"
EXTRAS = "[postgres,streams,forecast,api]"
SOURCE_DIRS = ("core", "plugins", "streams")


@dataclass
class Stage:
    base: str
    name: str | None
    commands: list[dockerfile.Command] = field(default_factory=list)

    def of(self, cmd: str) -> list[dockerfile.Command]:
        return [c for c in self.commands if c.cmd.upper() == cmd]


def stages() -> list[Stage]:
    out: list[Stage] = []
    for c in dockerfile.parse_file(str(DOCKERFILE)):
        if c.cmd.upper() == "FROM":
            value = list(c.value)
            name = value[2] if len(value) == 3 and value[1].upper() == "AS" else None
            out.append(Stage(value[0], name))
        elif out:
            out[-1].commands.append(c)
    return out


def flags(c: dockerfile.Command) -> dict[str, str]:
    return dict(f.removeprefix("--").split("=", 1) for f in c.flags)


def mount_options(c: dockerfile.Command) -> list[dict[str, str]]:
    return [dict(kv.split("=", 1) for kv in f.removeprefix("--mount=").split(",")) for f in c.flags
            if f.startswith("--mount=")]


def pip_commands(c: dockerfile.Command) -> list[list[str]]:
    """The pip invocations of a RUN (shell form split on && and ;)."""
    text = " ".join(c.value)
    out = []
    for part in re.split(r"&&|;|\|\|", text):
        words = shlex.split(part)
        for i, w in enumerate(words):
            if w == "pip" or w.endswith("/pip") or (w == "-m" and i + 1 < len(words) and words[i + 1] == "pip"):
                start = i + 2 if w == "-m" else i + 1
                out.append(words[start:])
                break
    return out


def test_two_stages_builder_and_final() -> None:
    s = stages()
    assert [st.name for st in s] == ["builder", None]
    arg = {a.value[0].split("=", 1)[0]: a.value[0].split("=", 1)[1]
           for a in dockerfile.parse_file(str(DOCKERFILE)) if a.cmd.upper() == "ARG" and "=" in a.value[0]}
    for st in s:
        base = re.sub(r"\$\{(\w+)\}", lambda m: arg[m.group(1)], st.base)
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), base


def test_the_builder_makes_the_wheels() -> None:
    builder = stages()[0]
    wheels = [p for run in builder.of("RUN") for p in pip_commands(run) if p and p[0] == "wheel"]
    assert len(wheels) == 1, wheels
    args = wheels[0]
    assert f".{EXTRAS}" in args, args  # Attain and every dependency of the extras
    assert "--wheel-dir" in args or "-w" in args
    # what the wheel is built from is copied into the builder, and each of it is in the context
    sources = [src for c in builder.of("COPY") for src in c.value[:-1]]
    assert set(sources) >= {"pyproject.toml", "README.md", *SOURCE_DIRS}, sources
    for src in sources:
        assert (ROOT / src).exists(), src


def _wheel_dir(args: list[str]) -> str:
    flag = "--wheel-dir" if "--wheel-dir" in args else "-w"
    return args[args.index(flag) + 1]


def test_the_final_stage_installs_only_the_builders_wheels() -> None:
    builder, final = stages()
    (wheel,) = [p for run in builder.of("RUN") for p in pip_commands(run) if p and p[0] == "wheel"]
    built = _wheel_dir(wheel)
    assert not final.of("ADD")
    for copy in final.of("COPY"):  # nothing from the build context
        assert flags(copy).get("from") == "builder", copy.original
    installs = [(run, p) for run in final.of("RUN") for p in pip_commands(run) if p and p[0] == "install"]
    assert len(installs) == 1, installs
    run, args = installs[0]
    assert "--no-index" in args, args
    links = args[args.index("--find-links") + 1]
    # the wheels reach the stage from the builder: a bind mount of its wheel dir (or a COPY --from)
    mounted = [m for m in mount_options(run) if m.get("from") == "builder" and m.get("source") == built]
    copied = [c for c in final.of("COPY") if flags(c).get("from") == "builder" and c.value[0] == built]
    assert [m["target"] for m in mounted] == [links] or [c.value[-1] for c in copied] == [links], run.original
    assert f"attain{EXTRAS}" in args, args
    assert not [a for a in args if a.startswith(("http:", "https:", "git+", "-i", "--index-url", "--extra-index"))]


def test_it_runs_attain_as_a_non_root_user() -> None:
    final = stages()[-1]
    users = final.of("USER")
    assert users, "the final stage sets no USER"
    user = users[-1].value[0].split(":")[0]
    assert user not in ("root", "0"), user
    last_run = max(c.start_line for c in final.of("RUN"))
    assert users[-1].start_line > last_run, "USER comes after the last RUN"
    (entry,) = final.of("ENTRYPOINT")
    assert entry.json and list(entry.value) == ["attain"], entry.original


def test_nothing_is_installed_when_a_container_starts() -> None:
    final = stages()[-1]
    for c in final.of("ENTRYPOINT") + final.of("CMD"):
        assert not re.search(r"\b(pip|uv|apt-get|apk)\b", " ".join(c.value)), c.original


def test_the_build_context_holds_what_the_builder_copies() -> None:
    """.dockerignore excludes everything (``*``) but what the builder copies."""
    lines = [ln.strip() for ln in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*"
    allowed = {ln[1:] for ln in lines if ln.startswith("!")}
    sources = {src for c in stages()[0].of("COPY") for src in c.value[:-1]}
    assert sources == allowed, f"copied: {sorted(sources)}, allowed: {sorted(allowed)}"


def _package_files() -> list[str]:
    """The files of core/, plugins/ and streams/ (git's list, or the tree without caches)."""
    proc = subprocess.run(["git", "ls-files", *SOURCE_DIRS], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    if proc.returncode == 0 and proc.stdout.strip():
        return proc.stdout.split()
    return [p.relative_to(ROOT).as_posix() for d in SOURCE_DIRS for p in (ROOT / d).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts]


def test_the_wheel_has_everything_the_image_runs(tmp_path: Path) -> None:
    """The builder's wheel, built as the builder does from only what it copies, holds everything
    the image runs (the image has no source tree): every file of the packages — a module of a
    package pyproject.toml does not list would be missing, and so would migrations or the bundled
    data — and the ``attain`` command and the built-in plugins' entry points."""
    src = tmp_path / "src"
    src.mkdir()
    for copy in stages()[0].of("COPY"):
        for item in copy.value[:-1]:
            if (ROOT / item).is_dir():
                shutil.copytree(ROOT / item, src / item, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(ROOT / item, src / item)
    out = tmp_path / "wheels"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir",
                           str(out), str(src)], capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = out.glob("attain-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in _package_files() if f"attain/{f}" not in names]
    assert not missing, f"not in the wheel (add the package to pyproject.toml): {missing}"
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert re.search(r"^attain = attain\.core\.cli:main$", text, flags=re.M), text
    for plugin in (p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").is_file()):
        assert re.search(rf"^{plugin} = attain\.plugins\.{plugin}$", text, flags=re.M), plugin
