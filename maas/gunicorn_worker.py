"""gunicorn's gthread worker whose request thread stays with a kept-alive connection for a
moment after answering, while no other request waits for a thread.

gthread hands every kept-alive connection back to the worker's main thread after each
answer: the request thread wakes the main thread through a pipe, the main thread registers the
socket with its poller, and when the next request arrives it unregisters it and wakes a request
thread again — three thread hand-overs and four system calls on the poller per request, about
0.2–0.3 ms of a ``/health`` that the application answers in 25 µs (docs/planner.md, "Worker
class"). A client that sends its next request on the same connection right away (a phone
loading a page's API calls, a validator syncing, a load test) is served by the same thread
without those hand-overs. The thread waits at most :data:`LINGER_MS`, and only while the
pool has no request queued: a connection that stays quiet goes back to the poller as before,
so an idle client never holds a thread for longer than that.

Everything else — parsing, keep-alive limits, ``max_requests``, graceful stop — is gthread's
own :meth:`ThreadWorker.handle`, called once per request.

Two more per-request costs of gunicorn are paid once instead, in the worker after the fork
(:meth:`ThreadWorker.init_process`):

- every setting becomes a plain attribute of the worker's configuration
  (:func:`settle`): gunicorn's ``Config.__getattr__`` looks each one up through its settings
  table, dozens of times per request, and a worker's settings never change (a reload starts
  new workers);
- the ``Date`` header's text is made once a second (:func:`http_date`), not per response.

Together with the lingering thread: ``/api/v1/health`` at one connection on Bronx went from
~3,100–3,500 to ~3,500–4,200 requests per second (``wrk``, the same server side by side).
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from typing import Any

from gunicorn import util
from gunicorn.workers import gthread

# long enough for a client's next request sent on receipt of an answer (tens of µs on a
# local network, a few ms over the internet for a page's follow-up calls), short enough that
# a quiet connection returns to the poller before a queued request would notice
LINGER_MS = 2

# a worker already answering leaves a new connection to an idle sibling for this long per
# connection it is busy with, at most ACCEPT_DEFER_MAX_S (see ThreadWorker.accept)
ACCEPT_STEP_S = 0.0002
ACCEPT_DEFER_MAX_S = 0.001


def settle(cfg: Any) -> None:
    """Put each setting's value of gunicorn's ``cfg`` in its instance dictionary, where
    attribute lookup finds it before ``Config.__getattr__`` (which reads the settings table
    on every access). Only for a configuration that no longer changes: a worker's."""
    for name, setting in cfg.settings.items():
        cfg.__dict__[name] = setting.get()


class _SecondDate:
    """gunicorn's ``util.http_date`` remembering the current second's text."""

    def __init__(self, plain: Callable[[float | None], str]) -> None:
        self.plain = plain
        self.last: tuple[int, str] = (-1, "")

    def __call__(self, timestamp: float | None = None) -> str:
        if timestamp is not None:
            return self.plain(timestamp)
        second = int(time.time())
        last = self.last
        if last[0] != second:
            last = self.last = (second, self.plain(second))  # one assignment, thread-safe
        return last[1]


def http_date_once_a_second() -> None:
    """Make gunicorn's ``Date`` header text once a second in this process (a worker)."""
    if not isinstance(util.http_date, _SecondDate):
        util.http_date = _SecondDate(util.http_date)


class ThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]  # gunicorn has no types
    """gthread, answering a kept-alive connection's next request in the same thread, and
    leaving new connections to idle sibling workers first."""

    _accept_due: float | None = None  # accepting again from then (after leaving one)

    def init_process(self) -> None:
        """After the fork: settle the configuration and the date header (see the module
        notes), then gthread's own set-up and run loop."""
        settle(self.cfg)
        http_date_once_a_second()
        super().init_process()

    def handle(self, conn: Any) -> Any:
        """Answer requests on ``conn`` while the next one arrives within the linger time;
        what the last answer returns goes to gthread's ``finish_request`` as before."""
        result = super().handle(conn)
        while result is True and self._next_request_soon(conn):
            result = super().handle(conn)
        return result

    def _next_request_soon(self, conn: Any) -> bool:
        """True when ``conn`` has (or gets within :data:`LINGER_MS`) the start of
        another request, this worker still runs and no request waits for a thread."""
        if not self.alive or conn.is_http2 or conn.parser is None:
            return False
        if conn.parser.unreader.buf.getvalue():
            return True  # read ahead with the previous request
        if self.tpool._work_queue.qsize():  # ThreadPoolExecutor has no public view of it
            return False
        waiting = select.poll()  # not select(): sockets may be numbered above 1024
        waiting.register(conn.sock, select.POLLIN)
        return bool(waiting.poll(LINGER_MS))

    # --- spreading connections over the workers ----------------------------------------------
    #
    # Every worker polls the shared listening socket and the first to wake accepts. A burst of
    # connections (a proxy's upstream pool, a page's parallel calls, a load test) can land on
    # one worker while another stays idle: wrk's 4 connections landed 4/0 on our 2 workers in 3
    # of 8 tries, and 16 split 16/0, 15/1 or 13/3, leaving a core unused (a bare WSGI app at 4
    # connections: ~6,100 req/s split 4/0 against 18,000-22,000 split 2/2 or 3/1). A worker
    # that is busy with ``n`` connections therefore waits ``n`` × ACCEPT_STEP_S (at most
    # ACCEPT_DEFER_MAX_S) before it accepts: it stops polling the listener meanwhile (its own
    # connections are served as before), and an idle sibling, which accepts at once, gets
    # the connection first; what is still waiting when the time is up it accepts itself. With
    # one worker nothing is deferred.

    def accept(self, listener: Any) -> None:
        """Accept a connection now, or leave it a moment to idle siblings (see above)."""
        now = time.monotonic()
        due, self._accept_due = self._accept_due, None
        if due is None or now - due > ACCEPT_DEFER_MAX_S:  # not the end of a wait
            busy = self.nr_conns - len(self.keepalived_conns) - len(self.pending_conns)
            if busy > 0 and self.cfg.workers > 1:
                self._accept_due = now + min(busy * ACCEPT_STEP_S, ACCEPT_DEFER_MAX_S)
                super().set_accept_enabled(False)
                return
        super().accept(listener)

    def set_accept_enabled(self, enabled: bool) -> None:
        """gthread's, except that accepting resumes only when a wait is over."""
        if enabled and self._accept_due is not None and time.monotonic() < self._accept_due:
            return
        super().set_accept_enabled(enabled)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        """gthread's poll, woken when a wait to accept is over."""
        due = self._accept_due
        if due is not None and not self._accepting:
            timeout = min(timeout, max(0.0, due - time.monotonic()))
        super().wait_for_and_dispatch_events(timeout)
