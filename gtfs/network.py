"""Where compiled networks live: stored feed copies and timetables under ``MAAS_HOME``.

The network served is the combination of all active GTFS feeds. It is compiled once per
combination (keyed by the feeds' content hashes and the build options) into
``MAAS_HOME/timetables/<key>/`` and memory-mapped by every process that needs it; each process
keeps the networks it opened in a small cache.
"""

from __future__ import annotations

import shutil
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
from gtfs.mobility import MobilityStore
from gtfs.models import Feed
from gtfs.realtime.services import RealtimeCache
from gtfs.timetable import BuildOptions, Timetable, compile_feeds, load, network_key, save


class NetworkStore:
    """Stored GTFS sources and compiled timetables of one ``MAAS_HOME``."""

    ACTIVE_TTL_SECONDS = 5.0

    def __init__(self, home: Path, options: BuildOptions | None = None) -> None:
        self.home = home
        self.options = options or BuildOptions()
        self._cache: dict[str, Timetable] = {}
        self._lock = threading.Lock()
        self._active: tuple[float, list[tuple[str, str]]] | None = None
        self.mobility = MobilityStore()  # bike share and on-demand snapshots
        self.realtime = RealtimeCache()  # GTFS-Realtime snapshots the worker stored

    def source_path(self, version: str) -> Path:
        """Where the stored copy of a GTFS feed version lives."""
        return self.home / "feeds" / "gtfs" / f"{version}.zip"

    def store_source(self, source: Path, version: str) -> Path:
        """Keep a copy of the feed (a zip) so networks can be rebuilt from it later."""
        target = self.source_path(version)
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".tmp", delete=False) as tmp:
            temporary = Path(tmp.name)
        if source.is_dir():
            with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
                for child in sorted(source.iterdir()):
                    if child.is_file():
                        archive.write(child, child.name)
        else:
            shutil.copyfile(source, temporary)
        temporary.replace(target)
        return target

    def network(self, feeds: Sequence[tuple[str, str]],
                loaded: Mapping[str, FeedData] | None = None) -> Timetable:
        """The compiled network of ``(name, version)`` feeds, building it when needed.

        ``loaded`` supplies already-read feeds by version (an import has just read one).
        """
        key = network_key([version for _, version in feeds], self.options)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            folder = self.home / "timetables" / key
            if not (folder / "meta.json").exists():
                from gtfs.feed import read_feed

                data = [(name, (loaded or {}).get(version) or read_feed(self.source_path(version)))
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
        now = time.monotonic()
        if self._active is None or now - self._active[0] > self.ACTIVE_TTL_SECONDS:
            rows = session.execute(
                select(Feed.name, Feed.version)
                .where(Feed.kind == "gtfs", Feed.active.is_(True))
                .order_by(Feed.name)
            ).all()
            self._active = (now, [(name, version) for name, version in rows])
        feeds = self._active[1]
        return self.network(feeds) if feeds else None

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
