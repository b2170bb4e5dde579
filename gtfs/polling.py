"""A feed poller's thread: poll, wait the interval, until stopped (used by ``maas worker``)."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class PollingThread:
    """Calls :meth:`poll_once` every ``interval`` seconds in a daemon thread.

    A poll that raises (a database hiccup) is logged and the thread keeps going. Subclasses set
    ``name`` and ``interval`` and implement :meth:`poll_once`.
    """

    name: str
    interval: int

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> Any:
        """One poll (subclasses)."""
        raise NotImplementedError

    def start(self) -> None:
        """Poll in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"{type(self).__name__}-{self.name}")
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (waits for a poll in progress)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # a database hiccup must not end the thread
                log.exception("poll of %s failed", self.name)
            self._stop.wait(self.interval)
