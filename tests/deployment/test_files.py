"""Static checks of the Dockerfile and docker-compose.yml (Docker itself is not needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"postgres", "redis", "migrate", "api", "worker", "beat"}
LONG_RUNNING = SERVICES - {"migrate"}
SECRET_NAMES = re.compile(r"(SECRET|PASSWORD|TOKEN|API_KEY|DSN)$")


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)  # join continued lines
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(document, dict)
    return document


def test_dockerfile_is_multi_stage_with_a_slim_runtime() -> None:
    stages = [args for op, args in _instructions() if op == "FROM"]
    assert len(stages) >= 2
    runtime = stages[-1]
    assert "slim" in runtime
    ops = [op for op, _ in _instructions()]
    last_from = len(ops) - 1 - ops[::-1].index("FROM")
    runtime_args = " ".join(args for _, args in _instructions()[last_from:])
    assert "uv" not in re.findall(r"\b\w+\b", runtime_args.replace("uv.lock", "")), (
        "the runtime stage copies the venv, it does not run uv"
    )
    assert "build-essential" not in (ROOT / "Dockerfile").read_text()


def test_dockerfile_runs_as_a_fixed_non_root_user() -> None:
    users = [args for op, args in _instructions() if op == "USER"]
    assert users, "no USER instruction"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert "10001" in (ROOT / "Dockerfile").read_text()


def test_dockerfile_has_a_healthcheck_and_the_cli_as_entrypoint() -> None:
    instructions = dict(_instructions())
    assert "/health" in instructions["HEALTHCHECK"]
    assert "curl" not in instructions["HEALTHCHECK"]
    assert instructions["ENTRYPOINT"] == '["echo-ai"]'
    assert instructions["CMD"].startswith('["api"')


def test_dockerfile_installs_the_locked_runtime_dependencies() -> None:
    runs = " ".join(args for op, args in _instructions() if op == "RUN")
    assert "--frozen" in runs
    assert "--no-dev" in runs


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".tools", "*.db", ".env", "secrets", "backups"} <= ignored


def test_compose_has_the_six_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any], name: str) -> None:
    healthcheck = compose["services"][name].get("healthcheck", {})
    assert healthcheck.get("test"), f"{name} has no health check"
    assert not healthcheck.get("disable")


def test_health_checks_probe_what_each_process_does(compose: dict[str, Any]) -> None:
    services = compose["services"]

    def probe(name: str) -> str:
        test = services[name]["healthcheck"]["test"]
        return " ".join(test) if isinstance(test, list) else test

    assert "pg_isready" in probe("postgres")
    assert "redis-cli ping" in probe("redis")
    assert "/health/ready" in probe("api")
    assert "worker --ping" in probe("worker")
    assert "/tmp/echo-ai-beat.heartbeat" in probe("beat")
    assert "appendonly" in " ".join(services["redis"]["command"])


def test_migrate_runs_once_before_the_app(compose: dict[str, Any]) -> None:
    services = compose["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name


def test_app_services_run_production_mode_with_celery(compose: dict[str, Any]) -> None:
    for name in ("migrate", "api", "worker", "beat"):
        environment = compose["services"][name]["environment"]
        assert environment["ECHO_AI_ENVIRONMENT"] == "production"
        assert environment["ECHO_AI_EXECUTOR"] == "celery"
        assert environment["REDIS_URL"].startswith("redis://redis:")
        assert environment["ECHO_AI_SECRET_KEY_FILE"].startswith("/run/secrets/")
    assert compose["services"]["beat"]["deploy"]["replicas"] == 1


def test_no_secret_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAMES.search(key):
                raise AssertionError(f"{name}: {key} is set inline; use a *_FILE secret")
            if key == "DATABASE_URL":
                assert re.match(r"^postgresql://[^:@/]+@", value), "password in DATABASE_URL"
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"]
    for secret in compose["secrets"].values():
        assert set(secret) == {"file"}
        assert secret["file"].startswith("./secrets/")


def test_api_workers_and_beat_share_the_data_directory(compose: dict[str, Any]) -> None:
    """A worker writes a data export that the API serves and beat's retention deletes."""
    mounts = set()
    for name in ("api", "worker", "beat"):
        service = compose["services"][name]
        directory = service["environment"]["ECHO_AI_DATA_DIR"]
        [mount] = [v for v in service["volumes"] if v.endswith(f":{directory}")]
        mounts.add(mount)
    [mount] = mounts
    assert mount.split(":")[0] in compose["volumes"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"install -d -o echo-ai -g echo-ai -m 0700 {mount.split(':')[1]}" in dockerfile
