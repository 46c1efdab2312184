"""docker-compose.yml as the tests read it: the file, Compose's variable interpolation, the
services' mounts, commands and healthcheck ports, and the ``attain`` commands it runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dockerfile

from .deploykit import COMPOSE, DOCKERFILE, load_yaml

# Compose interpolation: $$ (a literal $), ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
# ${VAR?error}, ${VAR:+other}, ${VAR+other}, $VAR.
_INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?+])([^}]*))?\}|\$(\w+)")


def compose() -> dict[str, Any]:
    doc = load_yaml(COMPOSE)
    assert isinstance(doc, dict)
    return doc


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def variables(value: Any) -> set[str]:
    """Every variable ``value`` (any YAML value) interpolates."""
    if isinstance(value, dict):
        return set().union(*(variables(k) | variables(v) for k, v in value.items())) if value else set()
    if isinstance(value, list):
        return set().union(*(variables(v) for v in value)) if value else set()
    if isinstance(value, str):
        return {m.group(1) or m.group(4) for m in _INTERPOLATION.finditer(value) if m.group(0) != "$$"}
    return set()


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """``value`` as Compose sees it with the environment ``env``."""
    if isinstance(value, dict):
        return {interpolate(k, env): interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1) or m.group(4), m.group(2), m.group(3) or ""
        set_, nonempty = name in env, bool(env.get(name))
        if op in (":-", "-"):
            return env[name] if (nonempty if op == ":-" else set_) else arg
        if op in (":?", "?"):
            if not (nonempty if op == ":?" else set_):
                raise KeyError(f"{name}: {arg}")
            return env[name]
        if op in (":+", "+"):
            return arg if (nonempty if op == ":+" else set_) else ""
        return env.get(name, "")

    return _INTERPOLATION.sub(one, value)


def mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of every volume entry (short or long syntax)."""
    out = []
    for entry in service.get("volumes", []):
        if isinstance(entry, str):
            parts = entry.split(":")
            source, target = parts[0], parts[1]
            read_only = len(parts) > 2 and "ro" in parts[2].split(",")
        else:
            source, target, read_only = entry.get("source", ""), entry["target"], bool(entry.get("read_only"))
        out.append((source, target, read_only))
    return out


def is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def mount_of(service: dict[str, Any], host_path: str) -> str:
    """The container path where ``service`` mounts the repository's ``host_path``."""
    for source, target, _ in mounts(service):
        if is_bind(source) and Path(source).as_posix().removeprefix("./") == host_path:
            return target
    raise AssertionError(f"{host_path} is not mounted")


def attain_services() -> dict[str, dict[str, Any]]:
    """The services that run the image of ./Dockerfile."""
    return {name: s for name, s in services().items() if "build" in s}


def image_entrypoint() -> list[str]:
    (entry,) = [c for c in dockerfile.parse_file(str(DOCKERFILE)) if c.cmd.upper() == "ENTRYPOINT"]
    assert entry.json, "ENTRYPOINT must be in exec (JSON) form"
    return list(entry.value)


def argv(service: dict[str, Any]) -> list[str]:
    """What an Attain service runs: the image's entry point and the service's command."""
    command = service.get("command", [])
    assert isinstance(command, list), "commands in exec (list) form"
    return [*image_entrypoint(), *command]


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def healthcheck_port(service: dict[str, Any]) -> int:
    test = " ".join(service["healthcheck"]["test"])
    m = re.search(r"(?:127\.0\.0\.1|localhost):(\d+)", test)
    assert m, f"no local port in the healthcheck {test!r}"
    return int(m.group(1))


def run_attain(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``attain`` console script (as the image runs it), or ``python -m``."""
    script = shutil.which("attain", path=str(Path(sys.executable).parent))
    cmd = [script] if script else [sys.executable, "-m", "attain.core.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, check=False,
                          env={"COLUMNS": "200", "NO_COLOR": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
