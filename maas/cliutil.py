"""Shared pieces of every package's click commands: state, errors, JSON output, progress."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from flask import Flask
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from maas import db
from maas.app import AppState
from maas.errors import MaasError

F = TypeVar("F", bound=Callable[..., Any])
console = Console(stderr=True)


class CliState:
    """What commands share: settings overrides, and the app built from them on first use."""

    def __init__(self, app: Flask | None = None) -> None:
        self._app = app
        self.overrides: dict[str, Any] = {}

    def app(self) -> Flask:
        """The application (created lazily, so ``--help`` needs no database)."""
        if self._app is None:
            from maas.app import create_app

            self._app = create_app(self.overrides)
        return self._app

    def runtime(self) -> AppState:
        """The app's settings, engine, session factory and clock."""
        runtime: AppState = self.app().extensions["maas"]
        return runtime

    def engine(self, *, check: bool = True) -> Engine:
        """The database engine; with ``check``, fail in one line when it is unreachable."""
        engine = self.runtime().engine
        if check:
            db.ping(engine)
        return engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A database session for one command."""
        with self.runtime().sessions() as session:
            yield session


pass_state = click.make_pass_decorator(CliState, ensure=True)


class MaasGroup(click.Group):
    """A group that turns our errors into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; report user errors without a traceback."""
        try:
            return super().invoke(ctx)
        except MaasError as exc:
            raise click.ClickException(exc.detail) from None
        except DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise click.ClickException(f"database error: {reason}") from None


def json_option(function: F) -> F:
    """Add ``--json`` (print the result as one JSON document)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(function)


def emit(as_json: bool, document: Mapping[str, Any], text: str) -> None:
    """Print ``document`` as JSON or ``text`` for people."""
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        click.echo(text)


@contextmanager
def progress(
    total: int, description: str, *, quiet: bool = False
) -> Iterator[Callable[[str], None]]:
    """A progress bar on a terminal's stderr; yields ``step(next_description)`` to advance it.

    Hidden with ``quiet`` and when stderr is not a terminal, so logs and JSON stay clean.
    """
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet or not console.is_terminal,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total)

        def step(next_description: str) -> None:
            bar.update(task, advance=1, description=next_description)

        yield step
