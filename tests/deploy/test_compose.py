"""docker-compose.yml: valid against the Compose Specification's JSON schema (as written and
interpolated), and what the schema cannot check: references between services, mounts, volumes,
health checks, ports that agree with Prometheus and Grafana, variables that are documented, and
the ``attain`` commands the services run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

from .composekit import (
    argv,
    attain_services,
    compose,
    healthcheck_port,
    interpolate,
    is_bind,
    mount_of,
    mounts,
    option,
    run_attain,
    services,
    variables,
)
from .deploykit import (
    COMPOSE,
    DASHBOARD_PROVIDER_YML,
    DATASOURCES_YML,
    DEPLOY_MD,
    PROMETHEUS_YML,
    ROOT,
    load_yaml,
)

pytestmark = pytest.mark.deploy

SERVICES = {"kafka", "postgres", "migrate", "worker-1", "worker-2", "api", "prometheus", "grafana"}
WORKERS = ("worker-1", "worker-2")
# The commands the Attain services run (the image's entry point is `attain`). Keep in step with
# docker-compose.yml (test_the_services_run_the_listed_commands).
COMMANDS = {
    "migrate": ["attain", "db", "upgrade"],
    "worker-1": ["attain", "worker", "--web-port", "6066"],
    "worker-2": ["attain", "worker", "--web-port", "6066"],
    "api": ["attain", "serve", "--host", "0.0.0.0", "--port", "8000"],
}
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
SOURCE_DIRS = ("core", "plugins", "streams")


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with the Compose Specification schema it ships (vendor.compose-spec)."""
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                           str(path)], capture_output=True, text=True, timeout=120, check=False)


def env_example() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value
    return out


# -- the schema -------------------------------------------------------------------------------------


def test_valid_against_the_compose_specification() -> None:
    proc = check_jsonschema(COMPOSE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("env", [{}, "example"], ids=["defaults", "env.example"])
def test_valid_once_interpolated(env: Any, tmp_path: Path) -> None:
    """The values Compose really uses (ports, durations …) are valid too."""
    resolved = interpolate(compose(), env_example() if env == "example" else env)
    path = tmp_path / "compose.yml"
    path.write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
    proc = check_jsonschema(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schema_rejects_a_wrong_compose_file(tmp_path: Path) -> None:
    """The validation bites: a misspelt key of a service is an error."""
    doc = compose()
    doc["services"]["api"]["helthcheck"] = doc["services"]["api"].pop("healthcheck")
    path = tmp_path / "compose.yml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    proc = check_jsonschema(path)
    assert proc.returncode != 0
    assert "helthcheck" in proc.stdout + proc.stderr


# -- services, dependencies, health -------------------------------------------------------------------


def test_the_services() -> None:
    assert set(services()) == SERVICES
    assert set(attain_services()) == {"migrate", *WORKERS, "api"}
    for name, service in attain_services().items():
        assert service["build"]["context"] == ".", name
        assert (ROOT / service["build"].get("dockerfile", "Dockerfile")).is_file(), name
    images = {s["image"] for s in attain_services().values()}
    assert len(images) == 1, f"one image for every Attain service: {images}"


def test_images_are_pinned() -> None:
    for name, service in services().items():
        if "build" in service:
            continue
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest"), f"{name}: {image}"


def test_kafka_is_the_version_the_tests_run() -> None:
    m = re.search(r"^DEFAULT_VERSION=(\S+)$", (ROOT / "scripts" / "kafka").read_text(), flags=re.M)
    assert m
    assert services()["kafka"]["image"] == f"apache/kafka:{m.group(1)}"


def test_depends_on_names_services_with_the_right_condition() -> None:
    svc = services()
    for name, service in svc.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in svc and dep != name, f"{name} depends on {dep!r}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in svc[dep], f"{name} waits for {dep} to be healthy: it has no healthcheck"
            elif condition == "service_completed_successfully":
                assert svc[dep].get("restart") == "no", f"{name} waits for {dep} to complete: it is not one-shot"
            else:
                assert condition == "service_started", condition
    for worker in WORKERS:
        deps = svc[worker]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["kafka"]["condition"] == "service_healthy"
    assert svc["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert svc["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_no_dependency_cycle() -> None:
    svc = services()
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        if name not in done:
            for dep in svc[name].get("depends_on") or {}:
                visit(dep, (*path, name))
            done.add(name)

    for name in svc:
        visit(name, ())


def test_every_service_has_a_healthcheck_or_is_one_shot() -> None:
    for name, service in services().items():
        if service.get("restart") == "no":
            assert "healthcheck" not in service, name
            continue
        check = service.get("healthcheck")
        assert check and check.get("test") and check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert not check.get("disable"), name
        assert service.get("restart") == "unless-stopped", f"{name}: restart policy"


def test_nothing_is_installed_when_a_container_starts() -> None:
    for name, service in services().items():
        for key in ("command", "entrypoint"):
            text = " ".join(service.get(key) or []) if isinstance(service.get(key), list) else str(service.get(key, ""))
            assert not re.search(r"\b(pip|uv|apt-get|apk)\b.*\binstall\b", text), f"{name} {key}: {text}"


# -- mounts and volumes --------------------------------------------------------------------------------


def test_bind_mounts_exist_in_the_repository_and_are_read_only() -> None:
    for name, service in services().items():
        for source, _target, read_only in mounts(service):
            if not is_bind(source):
                continue
            assert source.startswith("./"), f"{name}: {source} is outside the repository"
            path = (ROOT / source).resolve()
            assert path.exists() and ROOT in path.parents, f"{name}: {source} does not exist"
            assert read_only, f"{name}: {source} is mounted writable"


def test_named_volumes_are_declared_and_used() -> None:
    declared = set(compose().get("volumes") or {})
    used = {source for service in services().values() for source, _, _ in mounts(service) if not is_bind(source)}
    assert used == declared, f"undeclared: {used - declared}, unused: {declared - used}"
    for data in ("postgres", "kafka", "prometheus", "grafana"):  # state survives a restart
        assert any(not is_bind(s) for s, _, _ in mounts(services()[data])), data


# -- the attain commands --------------------------------------------------------------------------------


def test_the_services_run_the_listed_commands() -> None:
    got = {name: argv(service) for name, service in attain_services().items()}
    assert got == COMMANDS


@pytest.mark.parametrize("service", sorted(COMMANDS))
def test_existing_commands_accept_the_compose_arguments(service: str) -> None:
    """`attain <the service's arguments> --help` parses every argument (an unknown command or
    option exits 2) without running anything."""
    args = COMMANDS[service]
    proc = run_attain(*args[1:], "--help")
    assert proc.returncode == 0, f"`{' '.join(args)} --help`: {proc.stdout}{proc.stderr}"


def test_the_cli_rejects_an_unknown_option() -> None:
    """The argument check above bites: an option the command lacks exits non-zero."""
    proc = run_attain("worker", "--web-prot", "6066", "--help")
    assert proc.returncode == 2


# -- configuration ------------------------------------------------------------------------------------


def test_attain_variables_are_read_by_the_code() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for d in SOURCE_DIRS for p in (ROOT / d).rglob("*.py"))
    for name, service in attain_services().items():
        for key in service["environment"]:
            if key.startswith("ATTAIN_"):
                assert f'"{key}"' in source, f"{name}: nothing in {', '.join(SOURCE_DIRS)} reads {key}"


def test_every_variable_is_documented() -> None:
    used = variables(compose())
    documented = DEPLOY_MD.read_text(encoding="utf-8")
    example = env_example()
    for var in sorted(used):
        assert f"`{var}`" in documented, f"docs/deploy.md does not document {var}"
        assert var in example, f"deploy/env.example lacks {var}"
    assert set(example) <= used, f"deploy/env.example sets unused variables: {set(example) - used}"


def test_secrets_come_from_the_environment() -> None:
    env = {"ATTAIN_DB_PASSWORD": "s3cret-pw", "ATTAIN_DB_USER": "spm", "ATTAIN_DB_NAME": "spmdb",
           "ATTAIN_GRAFANA_ADMIN_PASSWORD": "gr4fana-pw"}
    svc = interpolate(compose(), env)["services"]
    assert svc["postgres"]["environment"]["POSTGRES_PASSWORD"] == "s3cret-pw"
    assert svc["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "gr4fana-pw"
    pg = svc["postgres"]["environment"]
    for name in attain_services():
        url = make_url(svc[name]["environment"]["ATTAIN_DATABASE_URL"])
        assert url.drivername == "postgresql+psycopg" and url.host == "postgres" and url.port == 5432
        assert (url.username, url.password, url.database) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"],
                                                              pg["POSTGRES_DB"]) == ("spm", "s3cret-pw", "spmdb")
    # the literal file carries no password but the local defaults of the variables
    raw = compose()["services"]
    assert raw["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${ATTAIN_DB_PASSWORD")
    assert raw["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${ATTAIN_GRAFANA_ADMIN_PASSWORD")


def test_kafka_listener_of_the_services() -> None:
    svc = interpolate(compose(), {})["services"]
    kafka = svc["kafka"]["environment"]
    assert "PLAINTEXT://kafka:9092" in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert "PLAINTEXT://:9092" in kafka["KAFKA_LISTENERS"].split(",")
    for name in attain_services():
        assert svc[name]["environment"]["ATTAIN_KAFKA_BOOTSTRAP"] == "kafka:9092", name


def test_admin_ports_are_bound_to_loopback() -> None:
    svc = interpolate(compose(), {})["services"]
    for name in ("kafka", "prometheus"):
        assert all(str(p).startswith("127.0.0.1:") for p in svc[name]["ports"]), name
    assert "ports" not in svc["postgres"]


# -- Prometheus and Grafana agree with the services ------------------------------------------------


def test_prometheus_scrapes_the_ports_the_services_serve() -> None:
    svc = services()
    jobs = {job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
            for job in load_yaml(PROMETHEUS_YML)["scrape_configs"]}
    expected_workers = sorted(f"{w}:{option(argv(svc[w]), '--web-port')}" for w in WORKERS)
    assert sorted(jobs["attain-worker"]) == expected_workers
    assert jobs["attain-api"] == [f"api:{option(argv(svc['api']), '--port')}"]
    for worker in WORKERS:  # the health check asks the port the worker serves
        assert healthcheck_port(svc[worker]) == int(option(argv(svc[worker]), "--web-port"))
    assert healthcheck_port(svc["api"]) == int(option(argv(svc["api"]), "--port"))
    assert "/healthz" in " ".join(svc["api"]["healthcheck"]["test"])


def test_prometheus_loads_the_repository_config() -> None:
    prom = services()["prometheus"]
    config_dir = mount_of(prom, "deploy/prometheus")
    flags = dict(arg.split("=", 1) for arg in prom["command"])
    config = flags["--config.file"]
    assert config.startswith(config_dir + "/")
    assert (PROMETHEUS_YML.parent / config.removeprefix(config_dir + "/")).resolve() == PROMETHEUS_YML


def test_grafana_provisioning_matches_the_services() -> None:
    svc = services()
    grafana = svc["grafana"]
    assert mount_of(grafana, "deploy/grafana/provisioning") == "/etc/grafana/provisioning"
    dashboards_dir = mount_of(grafana, "deploy/grafana/dashboards")
    (provider,) = load_yaml(DASHBOARD_PROVIDER_YML)["providers"]
    assert provider["options"]["path"] == dashboards_dir
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(dashboards_dir + "/")
    assert (ROOT / "deploy/grafana/dashboards" / home.removeprefix(dashboards_dir + "/")).is_file()
    (ds,) = load_yaml(DATASOURCES_YML)["datasources"]
    url = urlsplit(ds["url"])
    assert url.hostname == "prometheus" and url.hostname in svc
    assert url.port == 9090  # Prometheus' default listen port (its command sets no other)
    assert not any(arg.startswith("--web.listen-address") for arg in svc["prometheus"]["command"])
