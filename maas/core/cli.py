"""Shared pieces of every package's click commands: state, errors, JSON output, progress.

Light on purpose: the device program (``maas-validator``) and ``maas --help`` import this, so
flask, SQLAlchemy and rich are imported only inside the functions that use them.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from maas.core.errors import MaasError

F = TypeVar("F", bound=Callable[..., Any])


class MaasGroup(click.Group):
    """A group that turns our errors into one clear line and exit code 1.

    ``lazy_commands`` maps a command name to ``("module:attribute", "short help")``: the
    module is imported only when that command runs, so starting the CLI (and ``--help``, which
    shows the short help given here) stays cheap.
    """

    def __init__(self, *args: Any, lazy_commands: Mapping[str, tuple[str, str]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands, lazy ones by their given short help (nothing imported)."""
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                command = self.commands[name]
                if command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(formatter.width)))
            else:
                rows.append((name, self.lazy_commands[name][1]))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Eager and lazy commands, sorted."""
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command called ``cmd_name``, importing it on first use when it is lazy."""
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy_commands:
            module, _, attribute = self.lazy_commands[cmd_name][0].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; report user errors without a traceback."""
        try:
            return super().invoke(ctx)
        except MaasError as exc:
            raise click.ClickException(exc.detail) from None
        except Exception as exc:
            reason = _database_error(exc)
            if reason is None:
                raise
            raise click.ClickException(f"database error: {reason}") from None


def _database_error(exc: Exception) -> str | None:
    """The first line of a driver error, when ``exc`` is one (SQLAlchemy loaded or not)."""
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is None or not isinstance(exc, errors.DBAPIError):
        return None
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)


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
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=quiet or not sys.stderr.isatty(),
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total)

        def step(next_description: str) -> None:
            bar.update(task, advance=1, description=next_description)

        yield step
