"""Keeping live GBFS systems current: one poller per feed, run by ``maas worker``.

Reads never start threads: web workers read the latest stored snapshot; the worker process
polls (see docs/architecture.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gtfs.limits import DEFAULT_LIMITS, FeedLimits
from gtfs.models import FeedSnapshot
from gtfs.polling import PollingThread
from gtfs.services import import_gbfs
from maas.core.clock import Clock
from maas.core.errors import InvalidInput

log = logging.getLogger(__name__)


class GbfsPoller(PollingThread):
    """Keeps a live GBFS system current: one import every ``ttl`` seconds, in a thread.

    Several processes may poll the same feed: each poll first claims the snapshot row (an
    UPDATE that succeeds only if nobody fetched within the ttl), so the system is fetched about
    once per ttl overall. A failed poll is logged and the previous snapshot keeps serving.
    """

    MIN_INTERVAL = 5

    def __init__(self, sessions: Callable[[], Session], name: str, url: str, clock: Clock,
                 limits: FeedLimits = DEFAULT_LIMITS) -> None:
        self.sessions = sessions
        self.limits = limits
        self.name = name
        self.url = url
        self.clock = clock
        self.interval = 60
        self.last_error: str | None = None
        super().__init__()

    def poll_once(self) -> bool:
        """Fetch and store the system if its snapshot is older than its ttl; True if it did."""
        with self.sessions() as session:
            row = session.get(FeedSnapshot, ("gbfs", self.name))
            now = self.clock()
            if row is not None:
                self.interval = max(self.MIN_INTERVAL, min(row.ttl, 3600))
                if row.fetched_at > now - dt.timedelta(seconds=self.interval):
                    return False
                claimed = session.execute(
                    update(FeedSnapshot)
                    .where(FeedSnapshot.kind == "gbfs", FeedSnapshot.name == self.name,
                           FeedSnapshot.fetched_at == row.fetched_at)
                    .values(fetched_at=now))
                session.commit()
                if getattr(claimed, "rowcount", 1) != 1:
                    return False
            try:
                import_gbfs(session, self.url, self.name, self.clock, self.limits)
            except InvalidInput as exc:
                self.last_error = exc.detail
                log.warning("GBFS poll of %s failed, previous snapshot kept: %s", self.url,
                            exc.detail)
                return False
            self.last_error = None
            return True


def live_gbfs_feeds(session: Session) -> dict[str, str]:
    """Name → URL of every stored GBFS system fetched over HTTP (the ones worth polling)."""
    rows = session.execute(select(FeedSnapshot.name, FeedSnapshot.source)
                           .where(FeedSnapshot.kind == "gbfs"))
    return {name: source for name, source in rows
            if urlsplit(source).scheme in ("http", "https")}


def poll_live_gbfs(sessions: Callable[[], Session], clock: Clock,
                   pollers: dict[str, GbfsPoller], limits: FeedLimits = DEFAULT_LIMITS
                   ) -> dict[str, bool]:
    """Poll each live GBFS feed once if its ttl has passed (``maas worker``'s task): name →
    whether it fetched. ``pollers`` keeps one poller per feed between calls."""
    with sessions() as session:
        feeds = live_gbfs_feeds(session)
    for name in set(pollers) - set(feeds):
        del pollers[name]  # no longer stored, or no longer live
    polled = {}
    for name, url in sorted(feeds.items()):
        poller = pollers.get(name)
        if poller is None or poller.url != url:
            pollers[name] = poller = GbfsPoller(sessions, name, url, clock, limits)
        polled[name] = poller.poll_once()
    return polled
