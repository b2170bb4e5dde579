"""The ``maas`` operator CLI: thin click commands over services.

Exit codes: 0 success, 1 a user error (one line on stderr, never a traceback).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from maas import assets
from maas.core.cli import MaasGroup, emit, json_option, progress
from maas.core.clistate import CliState, pass_state
from maas.core.errors import MaasError

if TYPE_CHECKING:
    from flask import Flask

    from maas.core.config import Settings

F = TypeVar("F", bound=Callable[..., Any])

# each domain's command group, imported only when it runs (``maas --help`` stays fast)
DOMAIN_COMMANDS = {
    "gtfs": ("gtfs.cli:gtfs", "GTFS / GTFS-JP timetables."),
    "gbfs": ("gtfs.cli:gbfs", "GBFS bike share systems (まちのり)."),
    "plan": ("gtfs.cli:plan", "Plan a journey (the document of GET /api/v1/plan)."),
    "places": ("gtfs.places.cli:places", "Places riders search for: import operators' own."),
    "realtime": ("gtfs.realtime.cli:realtime", "GTFS-Realtime feeds polled by the worker."),
    "keys": ("passes.cli:keys", "Signing keys: list, rotate, import the files of old versions."),
    "passes": ("passes.cli:passes", "Pass credentials: issue, present, revoke."),
    "devices": ("validators.cli:devices", "Validator devices (operator side)."),
    "partners": ("maas.stats.cli:partners", "Consortium partners and their API keys."),
    "stats": ("maas.stats.cli:stats", "Partner statistics upkeep."),
    "worker": ("maas.worker:worker",
               "The background process: feeds, key rotation, orders, statistics."),
    "audit": ("maas.core.auditcli:audit_group", "The audit trail of operator actions."),
    "bench": ("maas.bench:bench", "Benchmarks, each beside a peer in the same run."),
}


def _create_app(overrides: Mapping[str, Any]) -> Flask:
    from maas.app import create_app

    return create_app(overrides)


@click.group(cls=MaasGroup, lazy_commands=DOMAIN_COMMANDS)
@click.version_option(package_name="kanazawa-maas", prog_name="maas")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """金沢MaaS operator CLI: data, passes, devices, partners, servers."""
    if ctx.obj is None:
        ctx.obj = CliState(factory=_create_app)


@cli.group("db", cls=MaasGroup)
def database() -> None:
    """Database schema."""


@database.command("upgrade")
@json_option
@pass_state
def db_upgrade(state: CliState, as_json: bool) -> None:
    """Create the database or bring its schema to the newest revision."""
    from maas.core import db

    engine = state.engine()
    before = db.current_revision(engine)
    db.upgrade(engine)
    after = db.current_revision(engine)
    emit(
        as_json,
        {"from": before, "to": after, "database": engine.url.render_as_string()},
        f"database {engine.url.render_as_string()}: {before or 'empty'} -> {after}",
    )


@database.command("current")
@json_option
@pass_state
def db_current(state: CliState, as_json: bool) -> None:
    """Show the schema revision of the database and of this code."""
    from maas.core import db

    engine = state.engine()
    current, head = db.current_revision(engine), db.head_revision()
    emit(as_json, {"current": current, "head": head}, f"current {current}, head {head}")


@database.command("revision", hidden=True)
@click.option("-m", "--message", required=True)
@pass_state
def db_revision(state: CliState, message: str) -> None:
    """(development) Autogenerate a migration from the models."""
    from alembic import command

    from maas.core import db

    command.revision(db.alembic_config(state.engine()), message=message, autogenerate=True)


def _server_options(function: F) -> F:
    function = click.option("--host", help="Address to bind (default 127.0.0.1).")(function)
    return click.option("--port", type=int, help="Port to listen on (default 8000).")(function)


def _serving_settings(state: CliState, **values: Any) -> Settings:
    """The app's settings with the command-line options that were given laid over them.

    Options apply whether the app is built here or handed in (the tests hand one in).
    """
    given = {key: value for key, value in values.items() if value is not None}
    state.overrides.update(given)
    return dataclasses.replace(state.runtime().settings, **given)


_LOCKED_ATTEMPTS = 5  # a demo run beside a running demo server on the same SQLite file


@cli.command()
@_server_options
@click.option("--no-serve", is_flag=True, help="Set up and print, but do not start a server.")
@click.option("--simulate-days", type=click.IntRange(1, 400),
              help="Also fill the N days before today with simulated sales, scans and trip "
                   "requests (for partner statistics; about 100,000 passes a month).")
@json_option
@pass_state
def demo(state: CliState, host: str | None, port: int | None, no_serve: bool,
         simulate_days: int | None, as_json: bool) -> None:
    """Set up the embedded demo (database, Kanazawa data) and serve it."""
    import time

    from sqlalchemy.exc import OperationalError

    from gtfs.network import networks_of
    from maas.accounts.services import ensure_demo_rider
    from maas.core import db
    from maas.demo.services import ensure_demo_logins, load_demo
    from maas.demo.services import simulate_days as simulate

    settings = _serving_settings(state, host=host, port=port)
    _demo_assets(settings.assets_dir, quiet=as_json)
    engine = state.engine()
    with progress(2, "database schema", quiet=as_json) as step:
        db.upgrade(engine)
        step("Kanazawa demo data")
        for attempt in range(1, _LOCKED_ATTEMPTS + 1):
            try:
                with state.session() as session:
                    loaded = load_demo(session, networks_of(state.runtime()),
                                       state.runtime().clock)
                    rider_email, rider_password = ensure_demo_rider(session,
                                                                    state.runtime().clock)
                    logins = ensure_demo_logins(session, settings.home, state.runtime().clock)
                break
            except OperationalError as exc:
                # a demo server on the same SQLite file (its worker stores realtime snapshots)
                # wrote between this run's read and its write: SQLite refuses the write at
                # once, without waiting out its busy timeout; every step is idempotent
                if attempt == _LOCKED_ATTEMPTS or "database is locked" not in str(exc.orig):
                    raise
                time.sleep(0.5 * attempt)
        _ensure_keys(state)
        step("done")
    simulated = None
    if simulate_days:
        with progress(simulate_days, "simulating days", quiet=as_json) as step, \
                state.session() as session:
            simulated = simulate(session, simulate_days, state.runtime().clock, step)
    base = settings.base_url
    urls = {
        "rider": f"{base}/app",
        "driver": f"{base}/driver",
        "partners": f"{base}/partners",
        "api": f"{base}/api/v1/openapi.json",
        "health": f"{base}/api/v1/health",
    }
    feeds = {
        kind: {"version": result.feed.version[:12], "new": result.created, **result.feed.summary}
        for kind, result in loaded.feeds.items()
    }
    document = {
        "urls": urls,
        "database": engine.url.render_as_string(),
        "home": str(settings.home.resolve()),
        "feeds": feeds,
        "products": loaded.products,
        "logins": {
            "rider": {"email": rider_email, "password": rider_password},
            "driver": {"device_id": logins.device_id,
                       "enrollment_code": logins.enrollment_code},
            "partners": {"admin": logins.admin_key, "hokutetsu": logins.operator_key},
        },
    }
    if simulated is not None:
        document["simulated"] = dataclasses.asdict(simulated)
    lines = [
        "金沢MaaS demo (bundled demo data: invented timetables at real stop places)",
        *(f"  {name:<9}{url}" for name, url in urls.items()),
        f"  database {document['database']}",
        *(
            f"  {kind:<9}{info['version']} ({'loaded' if info['new'] else 'unchanged'})"
            for kind, info in feeds.items()
        ),
        f"  products {', '.join(loaded.products)}",
        f"  rider login (demo only): {rider_email} / {rider_password}",
        f"  driver enrolment code (demo only, {DEMO_VEHICLE_TEXT}): {logins.enrollment_code}",
        f"  partner key, 金沢市 administrator (demo only): {logins.admin_key}",
        f"  partner key, hokutetsu (demo only): {logins.operator_key}",
    ]
    if simulated is not None:
        lines.append("  simulated " + ", ".join(
            f"{name} {count:,}" for name, count in dataclasses.asdict(simulated).items()))
    emit(as_json, document, "\n".join(lines))
    if not no_serve:
        _exec_gunicorn(dataclasses.replace(settings, workers=min(settings.workers, 2)),
                       with_worker=True)


DEMO_VEHICLE_TEXT = "hokutetsu bus demo-bus-1"


def _demo_assets(vendor_dir: Path, *, quiet: bool) -> None:
    """Install the browser libraries the first time; the demo still serves without them."""
    try:
        result = assets.install(vendor_dir)
    except assets.AssetsError as exc:
        click.echo(f"warning: {exc.detail} (pages that need /static/vendor/ will not work)",
                   err=True)
        return
    if result.installed and not quiet:
        click.echo(f"browser libraries installed into {result.vendor_dir}", err=True)


@cli.command("assets")
@click.option("--vendor-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Install here instead of MAAS_ASSETS_DIR or $MAAS_HOME/static/vendor "
                   "(image builds); a server finds it through MAAS_ASSETS_DIR.")
@click.option("--force", is_flag=True, help="Reinstall even when the manifest matches.")
@json_option
def assets_command(vendor_dir: Path | None, force: bool, as_json: bool) -> None:
    """Install the pinned browser libraries (npm ci) into $MAAS_HOME/static/vendor/."""
    from maas.core.config import load_settings

    result = assets.install(vendor_dir or load_settings().assets_dir, force=force)
    emit(as_json, dataclasses.asdict(result) | {"vendor_dir": str(result.vendor_dir)},
         f"{'installed' if result.installed else 'up to date'}: {result.vendor_dir} ("
         + ", ".join(f"{name} {version}" for name, version in result.versions.items()) + ")")


@cli.command()
@_server_options
@click.option("--workers", type=int, help="Worker processes (default MAAS_WORKERS or 2).")
@pass_state
def serve(state: CliState, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the production server (gunicorn) on the current database."""
    from maas.core import db

    settings = _serving_settings(state, host=host, port=port, workers=workers)
    engine = state.engine()
    current, head = db.current_revision(engine), db.head_revision()
    if current != head:
        raise MaasError(f"database schema is at {current or 'nothing'}, need {head}: "
                        "run `maas db upgrade` first")
    _ensure_keys(state)
    _exec_gunicorn(settings)


def _ensure_keys(state: CliState) -> None:
    """Make the first signing keys before serving (once per deployment: every host reads
    them), so no request has to."""
    from maas.core.secrets import key_encryptor
    from passes.keys import KINDS, KeyStore

    runtime = state.runtime()
    with state.session() as session:
        for kind in KINDS:
            KeyStore(session, key_encryptor(runtime.settings), kind).ensure(runtime.clock())


def _ensure_port_free(host: str, port: int) -> None:
    """Fail with one clear line, before starting gunicorn, when the address is taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise MaasError(
                f"cannot listen on {host}:{port} ({exc.strerror}); choose another with --port"
            ) from None


def _exec_gunicorn(settings: Settings, *, with_worker: bool = False) -> None:
    """Replace this process with gunicorn serving ``maas:create_app()`` with ``settings``.

    ``with_worker`` (the demo) first starts ``maas worker`` beside it, which ends with the
    server; a production deployment runs its one worker as a service of its own.
    """
    from sqlalchemy.engine import make_url

    _ensure_port_free(settings.host, settings.port)
    env = dict(os.environ)
    env.update({
        "MAAS_ENV": settings.env,
        "MAAS_HOME": str(settings.home.resolve()),
        "MAAS_ASSETS_DIR": str(settings.assets_dir.resolve()),
        "MAAS_DATABASE_URL": settings.database_url,
        "MAAS_HOST": settings.host,
        "MAAS_PORT": str(settings.port),
        "MAAS_WORKERS": str(settings.workers),
        "MAAS_LOG_FORMAT": settings.log_format,
    })
    # The server runs in MAAS_HOME: python -m and gunicorn put the working directory first on
    # sys.path, and a source checkout there would shadow the installed package. -P drops it
    # for the config import too.
    argv = [sys.executable, "-P", "-m", "gunicorn", "--config", "python:maas.gunicorn_conf",
            "maas:create_app()"]
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        env["MAAS_DATABASE_URL"] = url.set(
            database=str(Path(url.database).resolve())).render_as_string(hide_password=False)
    sys.stdout.flush()
    sys.stderr.flush()
    if with_worker:
        start_worker(env, settings.home.resolve())
    replace_process(argv, env, settings.home.resolve())


def start_worker(env: dict[str, str], cwd: Path) -> None:
    """Start ``maas worker`` as a child that exits when this process (soon gunicorn) ends;
    tests replace this function."""
    argv = [sys.executable, "-P", "-m", "maas.cli", "worker", "--exit-with-parent",
            "--demo-realtime"]
    subprocess.Popen(argv, env=env, cwd=cwd, start_new_session=False)  # noqa: S603 - ours


def replace_process(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    """Become ``argv`` (our own interpreter) in ``cwd``; tests replace this function."""
    os.chdir(cwd)
    os.execve(sys.executable, argv, env)  # noqa: S606 - our own interpreter, fixed arguments


def main() -> None:
    """Console-script entry point of ``maas``."""
    cli.main(prog_name="maas")


if __name__ == "__main__":
    main()
