"""What the operator CLI's commands share: the application, built on first use."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from maas.core.errors import MaasError

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from maas.core.state import AppState

AppFactory = Callable[[Mapping[str, Any]], "Flask"]


class CliState:
    """What commands share: settings overrides, and the app built from them on first use.

    The root command hands in the application factory (the shell's ``create_app``); the tests
    hand in a ready app instead.
    """

    def __init__(self, app: Flask | None = None, factory: AppFactory | None = None) -> None:
        self._app = app
        self._factory = factory
        self.overrides: dict[str, Any] = {}

    def app(self) -> Flask:
        """The application (created lazily, so ``--help`` needs no database)."""
        if self._app is None:
            if self._factory is None:
                raise MaasError("this command needs the application, and no factory was given")
            self._app = self._factory(self.overrides)
        return self._app

    def runtime(self) -> AppState:
        """The app's settings, engine, session factory, clock and event bus."""
        runtime: AppState = self.app().extensions["maas"]
        return runtime

    def engine(self, *, check: bool = True) -> Engine:
        """The database engine; with ``check``, fail in one line when it is unreachable."""
        from maas.core import db

        engine = self.runtime().engine
        if check:
            db.ping(engine)
        return engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A database session for one command."""
        with self.runtime().sessions() as session:
            yield session

    @contextmanager
    def audited(self, action: str, target: str) -> Iterator[tuple[Session, dict[str, Any]]]:
        """A session for an operator action that the audit trail records (see
        :func:`maas.core.audit.audited`): the actor is ``MAAS_ACTOR`` or the OS user; yields
        the session and a dict for details of the outcome."""
        from maas.core import audit

        with self.session() as session, audit.audited(
                session, self.runtime().clock, actor=audit.cli_actor(), action=action,
                target=target) as detail:
            yield session, detail


pass_state = click.make_pass_decorator(CliState, ensure=True)
