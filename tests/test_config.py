"""Settings from MAAS_* variables: defaults, validation, production rules, CLI reporting."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from maas.cli import cli
from maas.core.config import load_settings
from maas.core.errors import ConfigError


def test_defaults_are_the_embedded_demo(tmp_path: Path) -> None:
    settings = load_settings(environ={"MAAS_HOME": str(tmp_path)})
    assert settings.env == "demo"
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.log_format == "text"
    assert settings.database_url == f"sqlite:///{(tmp_path / 'maas.sqlite3').resolve()}"
    assert settings.base_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MAAS_PORT", "abc", "MAAS_PORT: 'abc' is not a port number"),
        ("MAAS_PORT", "70000", "MAAS_PORT: '70000' is not a port number"),
        ("MAAS_WORKERS", "0", "MAAS_WORKERS"),
        ("MAAS_DATABASE_URL", "not a url", "MAAS_DATABASE_URL: 'not a url' is not a database URL"),
        ("MAAS_DATABASE_URL", "mysql://root@localhost/x", "backend 'mysql' is not supported"),
        ("MAAS_ENV", "staging", "MAAS_ENV: 'staging' is not one of"),
        ("MAAS_LOG_FORMAT", "xml", "MAAS_LOG_FORMAT"),
        ("MAAS_PUBLIC_URL", "ftp://x", "MAAS_PUBLIC_URL"),
        ("MAAS_HOST", "bad host", "MAAS_HOST"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_settings(environ={variable: value})


def test_plain_postgresql_scheme_uses_psycopg3() -> None:
    settings = load_settings(environ={"MAAS_DATABASE_URL": "postgresql://postgres@db/maas"})
    assert settings.database_url == "postgresql+psycopg://postgres@db/maas"


def test_production_fails_fast_without_secret_and_database() -> None:
    with pytest.raises(ConfigError, match="MAAS_SECRET_KEY: must be set"):
        load_settings(environ={"MAAS_ENV": "production", "MAAS_DATABASE_URL": "sqlite:///x"})
    with pytest.raises(ConfigError, match="at least 32 characters"):
        load_settings(environ={"MAAS_ENV": "production", "MAAS_SECRET_KEY": "short"})
    with pytest.raises(ConfigError, match="MAAS_DATABASE_URL: must be set in production"):
        load_settings(environ={"MAAS_ENV": "production", "MAAS_SECRET_KEY": "k" * 40})
    with pytest.raises(ConfigError, match="MAAS_KEY_ENCRYPTION_KEY: must be set in production"):
        load_settings(environ={"MAAS_ENV": "production", "MAAS_SECRET_KEY": "k" * 40,
                               "MAAS_DATABASE_URL": "postgresql://u@h/db"})
    settings = load_settings(
        environ={
            "MAAS_ENV": "production",
            "MAAS_SECRET_KEY": "k" * 40,
            "MAAS_DATABASE_URL": "postgresql://u@h/db",
            "MAAS_KEY_ENCRYPTION_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "MAAS_PAYMENT_PROVIDER": "sandbox",
            "MAAS_ALLOW_SANDBOX_PAYMENTS": "1",
            "MAAS_REDIS_URL": "redis://cache:6379/0",
        }
    )
    assert settings.log_format == "json"


@pytest.mark.parametrize("value", ["not base64!", "c2hvcnQ=", "A" * 60])
def test_a_key_encryption_key_must_be_32_bytes_of_base64(value: str) -> None:
    with pytest.raises(ConfigError, match="MAAS_KEY_ENCRYPTION_KEY: must be the base64 of 32"):
        load_settings(environ={"MAAS_KEY_ENCRYPTION_KEY": value})


def test_the_key_encryption_key_is_never_shown() -> None:
    kek = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    settings = load_settings(environ={"MAAS_KEY_ENCRYPTION_KEY": kek})
    assert "AAECAwQF" not in repr(settings)


def test_unknown_override_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings({"colour": "red"}, environ={})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MAAS_PORT": "eighty"}, "Error: MAAS_PORT: 'eighty' is not a port number (1-65535)\n"),
        (
            {"MAAS_DATABASE_URL": "oracle://x"},
            "Error: MAAS_DATABASE_URL: backend 'oracle' is not supported "
            "(use sqlite or postgresql)\n",
        ),
    ],
)
def test_cli_reports_bad_setting_in_one_line(
    env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade"], env={"MAAS_HOME": str(tmp_path), **env})
    assert result.exit_code == 1
    assert result.stderr == expected
    assert "Traceback" not in result.output
