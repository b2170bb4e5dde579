"""The audit trail: who did what to what, when, and whether it worked.

Every operator action (rotating keys, revoking or moving passes, adding or revoking devices and
partners, importing feeds, changing products) goes through :func:`audited`, which records one
row with the actor (``MAAS_ACTOR`` or the OS user for the CLI, the API principal for the API),
the time, the action, its target and its outcome. A failure is recorded too, in a transaction
of its own, since the action's own transaction is rolled back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import logging
import os
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from maas.core.clock import Clock
from maas.core.db import Base

OUTCOMES = ("success", "failure")
log = logging.getLogger(__name__)


class AuditEvent(Base):
    """One operator action and its outcome."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(300))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


def cli_actor(environ: dict[str, str] | None = None) -> str:
    """Who runs an operator command: ``MAAS_ACTOR``, else the OS user (``cli:`` prefixed)."""
    environ = dict(os.environ) if environ is None else environ
    name = environ.get("MAAS_ACTOR", "").strip()
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no user name for this uid (a container)
            name = f"uid {os.getuid()}"
    return f"cli:{name[:190]}"


def record(session: Session, *, actor: str, action: str, target: str, outcome: str,
           at: dt.datetime, detail: dict[str, Any] | None = None) -> AuditEvent:
    """Add one audit row to ``session`` (the caller commits)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    event = AuditEvent(at=at, actor=actor[:200], action=action[:64], target=target[:300],
                       outcome=outcome, detail=detail or {})
    session.add(event)
    return event


@contextlib.contextmanager
def audited(session: Session, clock: Clock, *, actor: str, action: str,
            target: str) -> Iterator[dict[str, Any]]:
    """Record the action in the block: success with the block's commit, failure on its own.

    The block may put details into the dict it is given (a new id, a count). On success the
    row is added to ``session`` and committed; on an exception the session is rolled back, the
    failure (with the error's text) committed alone, and the exception raised again.
    """
    detail: dict[str, Any] = {}
    try:
        yield detail
    except Exception as exc:
        session.rollback()
        try:
            record(session, actor=actor, action=action, target=target, outcome="failure",
                   at=clock(), detail={**detail, "error": str(exc)[:500]})
            session.commit()
        except Exception:  # an unreachable or unmigrated database: the action's own error is
            session.rollback()  # what the operator must see (one line), not this one
            log.debug("could not record the failure of %s on %s in the audit trail",
                        action, target, exc_info=True)
        raise
    record(session, actor=actor, action=action, target=target, outcome="success", at=clock(),
           detail=detail)
    session.commit()


def list_events(session: Session, *, since: dt.datetime | None = None,
                action: str | None = None, limit: int = 1000) -> list[AuditEvent]:
    """The newest audit rows first, filtered by time and action (an ``action`` ending in ``*``
    matches a prefix, e.g. ``keys.*``)."""
    query = select(AuditEvent)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if action:
        query = (query.where(AuditEvent.action.startswith(action[:-1], autoescape=True))
                 if action.endswith("*") else query.where(AuditEvent.action == action))
    return list(session.scalars(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                                .limit(limit)))
