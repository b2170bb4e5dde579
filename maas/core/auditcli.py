"""``maas audit list``: read the audit trail of operator actions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from maas.core import audit
from maas.core.cli import MaasGroup, emit, json_option
from maas.core.clistate import CliState, pass_state
from maas.core.errors import InvalidInput


@click.group(cls=MaasGroup)
def audit_group() -> None:
    """The audit trail: who did what to what, when, and whether it worked."""


def _since(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--since: {text!r} is not an ISO 8601 date or date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@audit_group.command("list")
@click.option("--since", help="Only actions at or after this ISO 8601 time (UTC if no offset).")
@click.option("--action", help="Only this action (e.g. keys.rotate), or a prefix with * (keys.*).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@json_option
@pass_state
def list_events(state: CliState, since: str | None, action: str | None, limit: int,
                as_json: bool) -> None:
    """The newest actions first."""
    with state.session() as session:
        rows: list[dict[str, Any]] = [
            {"at": row.at.isoformat(), "actor": row.actor, "action": row.action,
             "target": row.target, "outcome": row.outcome, "detail": row.detail}
            for row in audit.list_events(session, since=_since(since), action=action,
                                         limit=limit)]
    emit(as_json, {"events": rows}, "\n".join(
        f"{r['at']}  {r['outcome']:<7}  {r['action']:<16} {r['target']}  by {r['actor']}"
        + (f"  ({r['detail']['error']})" if "error" in r["detail"] else "")
        for r in rows) or "no audited actions")
