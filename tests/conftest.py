"""Shared fixtures: databases (SQLite, and PostgreSQL when configured), app, client, runner.

Database-backed tests run once per backend. ``MAAS_TEST_DATABASE_URL`` names a PostgreSQL
server database to administer from; the suite creates its own database there, migrates it,
and drops it at the end. Each test runs inside a transaction that is rolled back afterwards.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from gtfs.network import networks_of
from maas.app import create_app, register_events
from maas.cli import CliState, cli
from maas.core.config import load_settings
from maas.core.db import create_db_engine, upgrade
from maas.core.events import SESSION_KEY, Events
from maas.core.secrets import key_encryptor
from passes.keys import KeyStore

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
FIXED_NOW = dt.datetime(2026, 12, 1, 0, 3, tzinfo=dt.UTC)  # 09:03 in Kanazawa
# Every app and server of the run (each on its own MAAS_HOME) serves the browser libraries from
# this one folder, where scripts/test runs `maas assets` first: no test runs npm or needs the
# registry. By default it is the folder `maas demo` fills in this clone (MAAS_HOME=./instance).
os.environ.setdefault("MAAS_ASSETS_DIR", str(REPO / "instance" / "static" / "vendor"))


def app_keys(app: Flask, session: Session, kind: str = "issuing") -> KeyStore:
    """The app's signing keys, read and written through ``session`` (the test's transaction)."""
    return KeyStore(session, key_encryptor(app.extensions["maas"].settings), kind)


def demo_keys(session: Session) -> KeyStore:
    """The issuing keys of a demo server (default secret, so the KEK derived from it)."""
    return KeyStore(session, key_encryptor(load_settings(environ={})))


def fixed_clock() -> dt.datetime:
    """The clock tests run on: 2026-12-01 09:03 Asia/Tokyo."""
    return FIXED_NOW


def _backends() -> list[str]:
    backends = ["sqlite"]
    if os.environ.get("MAAS_TEST_DATABASE_URL"):
        backends.append("postgresql")
    return backends


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The PostgreSQL URL the suite administers test databases from."""
    url = make_url(os.environ["MAAS_TEST_DATABASE_URL"])
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def make_postgres_database(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty PostgreSQL databases, all dropped at the end of the run."""
    created: list[str] = []
    admin_url = request.getfixturevalue("postgres_admin_url")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def make() -> str:
        name = f"maas_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as connection:
        for name in created:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=_backends())
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A migrated database of each backend, shared by the whole run."""
    return _migrated(request, tmp_path_factory.mktemp("sqlite") / "maas.sqlite3")


def _migrated(request: pytest.FixtureRequest, sqlite_file: Path) -> str:
    """A new database of the backend ``request.param`` (SQLite at ``sqlite_file``), migrated
    to the head revision: its URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{sqlite_file}"
    else:
        url = request.getfixturevalue("make_postgres_database")()
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(params=_backends())
def own_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database of each backend for this test alone: for a server process, whose
    commits (the first signing keys, say) no transaction of the test can roll back."""
    return _migrated(request, tmp_path / "own.sqlite3")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the shared test database."""
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def events() -> Events:
    """The event bus of the test's sessions (the ``app`` fixture subscribes statistics)."""
    return Events()


@pytest.fixture
def sessions(connection: Connection, events: Events) -> sessionmaker[Session]:
    """Sessions on the test connection: their commits become savepoints, undone at the end.

    They carry the test's event bus, as the application's sessions carry its own.
    """
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False,
        info={SESSION_KEY: events},
    )


@pytest.fixture
def db_session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A database session for one test, rolled back afterwards."""
    with sessions() as session:
        yield session


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MAAS_HOME of the test apps: compiled networks are keyed by content, so sharing is safe."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture
def app(
    database_url: str, sessions: sessionmaker[Session], events: Events, shared_home: Path,
    tmp_path: Path,
) -> Iterator[Flask]:
    """The application on the test database; every request's session joins the test
    transaction, and statistics subscribe to the test sessions' bus as they do in a server."""
    # allow_private_urls: the tests serve their feeds on 127.0.0.1 (MAAS_ALLOW_PRIVATE_URLS)
    app = create_app(
        {"env": "test", "home": shared_home, "database_url": database_url,
         "clock": fixed_clock, "allow_private_urls": True,
         # the test's own journal: lines another test left would count here otherwise; stored
         # when a test asks (a request's session is a savepoint around the recorder's own,
         # and its rollback at the end of the request would undo what a flush stored)
         "journal_dir": tmp_path / "journal", "journal_flush_seconds": 3600}
    )
    state = app.extensions["maas"]
    app.extensions["maas"] = dataclasses.replace(state, sessions=sessions, events=events)
    register_events(app)
    yield app
    state.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of ``app``."""
    return app.test_client()


class Runner:
    """Invokes the real ``maas`` CLI on the test app.

    Starting a server would replace the test process with gunicorn (``replace_process``); here that
    call fails the test instead.
    """

    def __init__(self, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
        self.app = app
        self.cli_runner = CliRunner()
        self.exec_calls: list[tuple[list[str], dict[str, str]]] = []
        self.exec_cwd: Path | None = None

        def refuse_exec(argv: list[str], env: dict[str, str], cwd: Path) -> None:
            self.exec_calls.append((argv, env))
            self.exec_cwd = cwd
            raise RuntimeError("maas tried to exec a server inside the test process")

        monkeypatch.setattr("maas.cli.replace_process", refuse_exec)
        self.workers_started: list[Path] = []
        monkeypatch.setattr("maas.cli.start_worker",
                            lambda _env, cwd: self.workers_started.append(cwd))

    def invoke(self, *args: str, **kwargs: Any) -> Result:
        """Run ``maas ARGS`` and return the result."""
        return self.cli_runner.invoke(cli, list(args), obj=CliState(self.app), **kwargs)


@pytest.fixture
def runner(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Runner:
    """The ``maas`` CLI bound to the test app and database."""
    return Runner(app, monkeypatch)


@pytest.fixture
def loaded_demo(app: Flask, db_session: Session) -> None:
    """The Kanazawa demo data loaded into the test database (rolled back after the test)."""
    from maas.demo.services import load_demo

    load_demo(db_session, networks_of(app.extensions["maas"]), fixed_clock)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_http(url: str, timeout: float, process: subprocess.Popen[bytes]) -> float:
    """Poll ``url`` until it answers 200; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer 200 within {timeout} s")


@dataclasses.dataclass
class RunningServer:
    """A server process started for a test."""

    base_url: str
    process: subprocess.Popen[bytes]
    home: Path
    startup_seconds: float


def maas_executable(name: str = "maas") -> str:
    """The console script installed beside this interpreter."""
    return str(Path(sys.executable).with_name(name))


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """``maas demo --port P`` started for real, on its own SQLite database."""
    home = tmp_path_factory.mktemp("demo-home")
    port = free_port()
    env = {**os.environ, "MAAS_HOME": str(home), "MAAS_ENV": "demo"}
    env.pop("MAAS_DATABASE_URL", None)
    # the log goes to a file: a pipe nobody reads would stall the server once full
    with (home / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [maas_executable(), "demo", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            seconds = wait_for_http(f"http://127.0.0.1:{port}/api/v1/health", 90, process)
            yield RunningServer(f"http://127.0.0.1:{port}", process, home, seconds)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# flags that keep chromium from reaching for Google's services on a closed network
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str:
    """Debian's chromium (or MAAS_CHROMIUM); the test command installs it."""
    path = os.environ.get("MAAS_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("chromium is not installed: run scripts/test, which installs it")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One chromium for the whole run (Playwright's sync API allows one driver at a time, so
    every browser test module shares this fixture rather than defining its own)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A phone-sized page in Japanese on Tokyo time; script errors on it fail the test."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="ja-JP", timezone_id="Asia/Tokyo"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], errors


def wait_until_controlled(page: Page) -> None:
    """Wait until the page's service worker controls it (what offline use needs).

    The worker claims open pages when it activates; when Chromium has not handed this page
    over within a while (seen once in a loaded run), a reload does: a page loaded under an
    activated worker in scope is always controlled, as when a rider opens the page again.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    assert page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    try:
        page.wait_for_function("() => navigator.serviceWorker.controller !== null",
                               timeout=10_000)
    except PlaywrightTimeout:
        page.reload()
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
