"""The deployment files read right: compose.yaml's services and settings, the Dockerfile's
commands. No Docker engine runs here; these checks are what can be known without one."""

from __future__ import annotations

import base64
import configparser
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from maas.app import create_app
from maas.core.config import ENV_VARS, load_settings
from tests.conftest import REPO

SECRETS = ("MAAS_SECRET_KEY", "MAAS_KEY_ENCRYPTION_KEY", "POSTGRES_PASSWORD")
# ${NAME:?message}, ${NAME:-default}, ${NAME}
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::(?P<op>[?-])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
    return document


def console_scripts() -> set[str]:
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    lines = parser["options.entry_points"]["console_scripts"].strip().splitlines()
    return {line.split("=")[0].strip() for line in lines}


def interpolate(value: str, given: dict[str, str]) -> str:
    """What compose makes of ``value`` with ``given`` as the environment (.env)."""
    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name in given:
            return given[name]
        if op == "?":
            raise LookupError(f"{name}: {arg}")
        return arg or ""
    return INTERPOLATION.sub(one, value)


def test_the_fleet_has_its_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"db", "redis", "migrate", "app", "worker"}
    assert services["db"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    # one image for the app, its worker and the migration
    images = {services[name]["image"] for name in ("migrate", "app", "worker")}
    assert len(images) == 1
    for name in ("db", "redis", "app"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert services["app"]["depends_on"]["migrate"]["condition"] == \
        "service_completed_successfully"
    assert services["worker"]["depends_on"]["migrate"]["condition"] == \
        "service_completed_successfully"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["app"]["depends_on"]["redis"]["condition"] == "service_healthy"
    # the app's health check asks the endpoint the app serves
    assert "/api/v1/health" in " ".join(services["app"]["healthcheck"]["test"])
    app = create_app({"env": "test", "database_url": "sqlite://"})
    assert "/api/v1/health" in {rule.rule for rule in app.url_map.iter_rules()}


def test_commands_are_our_console_scripts(compose: dict[str, Any]) -> None:
    scripts = console_scripts()
    for name in ("migrate", "worker"):
        assert compose["services"][name]["command"][0] in scripts, name
    dockerfile = (REPO / "Dockerfile").read_text()
    cmd = json.loads(re.findall(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)[-1])
    assert cmd[0] in scripts
    assert cmd == ["maas", "serve"]
    assert compose["services"]["worker"]["command"] == ["maas", "worker"]
    assert compose["services"]["migrate"]["command"] == ["maas", "db", "upgrade"]


def test_the_dockerfile_copies_files_that_exist() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    copies = re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.MULTILINE)
    assert copies
    for line in copies:
        for source in line.split():
            assert (REPO / source).exists(), source


def test_secrets_come_from_the_environment(compose: dict[str, Any]) -> None:
    text = (REPO / "compose.yaml").read_text()
    environment = compose["x-maas-env"]
    for name in SECRETS:
        value = environment.get(name) or compose["services"]["db"]["environment"][name]
        # required from the environment, never a value written here
        assert re.fullmatch(r"\$\{" + name + r":\?[^}]+\}", value), (name, value)
    missing = {**_dummy_secrets()}
    missing.pop("MAAS_SECRET_KEY")
    with pytest.raises(LookupError, match="MAAS_SECRET_KEY"):
        interpolate(environment["MAAS_SECRET_KEY"], missing)
    assert "password" not in INTERPOLATION.sub("", text).lower().replace(
        "postgres_password", "")


def _dummy_secrets() -> dict[str, str]:
    return {"POSTGRES_PASSWORD": "pw", "MAAS_SECRET_KEY": "s" * 48,
            "MAAS_KEY_ENCRYPTION_KEY": base64.b64encode(bytes(range(32))).decode(),
            "MAAS_PAYMENT_PROVIDER": "sandbox", "MAAS_ALLOW_SANDBOX_PAYMENTS": "1"}


def test_the_app_and_worker_settings_start_in_production(compose: dict[str, Any]) -> None:
    """With the secrets given, the environment compose builds passes production's checks."""
    for name in ("app", "worker", "migrate"):
        raw = compose["services"][name]["environment"]
        environ = {key: interpolate(str(value), _dummy_secrets()) for key, value in raw.items()}
        settings = load_settings(environ=environ)
        assert settings.env == "production"
        assert settings.database_url.startswith("postgresql+psycopg://maas:pw@db:5432/")
        assert settings.redis_url == "redis://redis:6379/0"
        assert all(key in ENV_VARS for key in environ if key.startswith("MAAS_")), sorted(environ)


def test_the_example_env_names_every_required_variable(compose: dict[str, Any]) -> None:
    example = (REPO / "docs" / "deploy.env.example").read_text()
    names = {line.split("=")[0] for line in example.splitlines()
             if line and not line.startswith("#")}
    settings = "\n".join(line for line in (REPO / "compose.yaml").read_text().splitlines()
                         if not line.lstrip().startswith("#"))
    required = {match["name"] for match in INTERPOLATION.finditer(settings)
                if match["op"] == "?"}
    assert required <= names, required - names
    assert Path(REPO / "docs" / "deploy.md").exists()
