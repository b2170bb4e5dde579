"""Where compiled networks live: stored feed copies in the database, timetables per host.

The network served is the combination of all active GTFS feeds. The stored copy of each feed
version is a row of ``feed_blobs`` (content-addressed, shared by every host); each host
compiles a combination it has not seen yet (keyed by the feeds' content hashes and the build
options) into its own ``MAAS_HOME/timetables/<key>/`` on first use, and every process of the
host memory-maps it; each process keeps the networks it opened in a small cache. A new host
therefore needs nothing from another host's disk. ``MAAS_HOME/feeds/gtfs/`` holds the copies a
host took out of the database to compile (a cache: deleting it is safe).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tempfile
import threading
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

if TYPE_CHECKING:  # the reader pulls in pandas; only a rebuild needs it
    from gtfs.feed import FeedData
    from maas.core.state import AppState
from gtfs.maps.shapes import ShapeCache
from gtfs.mobility import MobilityStore
from gtfs.models import Feed, FeedBlob
from gtfs.places.sources import PlaceStore
from gtfs.realtime.services import RealtimeCache
from gtfs.timetable import BuildOptions, Timetable, compile_feeds, load, network_key, save
from maas.core.errors import NotFound


class NetworkStore:
    """Stored GTFS sources and compiled timetables of one ``MAAS_HOME``."""

    ACTIVE_TTL_SECONDS = 5.0

    def __init__(self, home: Path, options: BuildOptions | None = None) -> None:
        self.home = home
        self.options = options or BuildOptions()
        self._cache: dict[str, Timetable] = {}
        self._lock = threading.Lock()
        self._active: tuple[float, list[tuple[str, str]], Timetable | None] | None = None
        self.mobility = MobilityStore()  # bike share and on-demand snapshots
        self.places = PlaceStore()  # the place search index (gtfs.places)
        self.shapes = ShapeCache()  # shapes and route colours for maps (gtfs.maps)
        self.realtime = RealtimeCache()  # GTFS-Realtime snapshots the worker stored

    def source_path(self, version: str) -> Path:
        """Where this host keeps its local copy of a GTFS feed version (a cache)."""
        return self.home / "feeds" / "gtfs" / f"{version}.zip"

    def store_source(self, session: Session, source: Path, version: str,
                     stored_at: dt.datetime) -> FeedBlob:
        """Keep a copy of the feed (a zip) in the database so any host can rebuild networks
        from it later; the caller commits (with the feed's activation)."""
        existing = session.scalar(select(FeedBlob).where(FeedBlob.version == version))
        if existing is not None:
            return existing
        if source.is_dir():
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for child in sorted(source.iterdir()):
                    if child.is_file():
                        archive.write(child, child.name)
            content = buffer.getvalue()
        else:
            content = source.read_bytes()
        digest = hashlib.sha256(content).hexdigest()
        blob = session.get(FeedBlob, digest)
        if blob is None:
            blob = FeedBlob(sha256=digest, version=version, size=len(content),
                            stored_at=stored_at, content=content)
            session.add(blob)
            session.flush()
        return blob

    def local_source(self, session: Session | None, version: str) -> Path:
        """This host's copy of a stored feed version, taken out of the database if needed."""
        target = self.source_path(version)
        if target.exists():
            return target
        content = None if session is None else session.scalar(
            select(FeedBlob.content).where(FeedBlob.version == version))
        if content is None:
            raise NotFound(f"feed version {version[:12]} has no stored copy: import it again "
                           "with `maas gtfs import`")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".tmp", delete=False) as tmp:
            tmp.write(content)
            temporary = Path(tmp.name)
        temporary.replace(target)
        return target

    def network(self, feeds: Sequence[tuple[str, str]],
                loaded: Mapping[str, FeedData] | None = None,
                session: Session | None = None) -> Timetable:
        """The compiled network of ``(name, version)`` feeds, building it when needed.

        ``loaded`` supplies already-read feeds by version (an import has just read one); the
        others are read from this host's copies, or from the database through ``session``.
        """
        key = network_key([version for _, version in feeds], self.options)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            folder = self.home / "timetables" / key
            if not (folder / "meta.json").exists():
                from gtfs.feed import read_feed

                data = [(name, (loaded or {}).get(version)
                         or read_feed(self.local_source(session, version)))
                        for name, version in feeds]
                save(compile_feeds(data, self.options), folder)
            timetable = load(folder)
            if len(self._cache) >= 4:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = timetable
            return timetable

    def current(self, session: Session) -> Timetable | None:
        """The network of the active GTFS feeds (None when there is none).

        Which feeds are active is read from the database at most every few seconds per
        process: a plan request then needs no database round trip, and an import reaches
        every worker within ``ACTIVE_TTL_SECONDS``.
        """
        return self._refresh(session)[2]

    def active_feeds(self, session: Session) -> list[tuple[str, str]]:
        """``(name, version)`` of the active GTFS feeds, in the network's order (re-read with
        the network, at most every ``ACTIVE_TTL_SECONDS``)."""
        return self._refresh(session)[1]

    def _refresh(self, session: Session
                 ) -> tuple[float, list[tuple[str, str]], Timetable | None]:
        now = time.monotonic()
        active = self._active
        if active is None or now - active[0] > self.ACTIVE_TTL_SECONDS:
            rows = session.execute(
                select(Feed.name, Feed.version)
                .where(Feed.kind == "gtfs", Feed.active.is_(True))
                .order_by(Feed.name)
            ).all()
            feeds = [(name, version) for name, version in rows]
            # the network is kept with the list: no key hashing on every request (a host
            # without the feed's file takes it out of the database: hence the session)
            active = self._active = (now, feeds,
                                     self.network(feeds, session=session) if feeds else None)
        return active

    def forget_active(self) -> None:
        """Re-read the active feeds on the next request (this process just changed them)."""
        self._active = None


# what gtfs keeps in the application's ``AppState.domains`` (see maas.core.state)
NETWORKS = "gtfs.networks"
# the passes package's lookup of what a pass product covers (gtfs.services.PassCoverage)
PASS_COVERAGE = "gtfs.pass_coverage"  # noqa: S105 - a key name, not a secret


def networks_of(state: AppState) -> NetworkStore:
    """The compiled networks of an application (built by the shell at start)."""
    store: NetworkStore = state.domains[NETWORKS]
    return store
