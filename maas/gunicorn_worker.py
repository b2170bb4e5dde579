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
own :meth:`ThreadWorker.handle`, called once per request. A thread lingers only while at most
:data:`LINGER_BUSY_MAX` connections are at work in its worker: with more, gthread's pool
threads chain through queued connections without sleeping, where each lingering thread would
sleep in ``poll`` and wake for every request.

A worker busy with connections also leaves a new one a moment to idle siblings before it
accepts it (:meth:`ThreadWorker.accept`): the first worker to wake took whole bursts, leaving
a core idle.

Two more per-request costs of gunicorn are paid once instead, in the worker after the fork
(:meth:`ThreadWorker.init_process`):

- every setting becomes a plain attribute of the worker's configuration
  (:func:`settle`): gunicorn's ``Config.__getattr__`` looks each one up through its settings
  table, dozens of times per request, and a worker's settings never change (a reload starts
  new workers);
- the ``Date`` header's text is made once a second (:func:`http_date`), not per response.

Together with the lingering thread: ``/api/v1/health`` at one connection on Bronx went from
~3,100–3,500 to ~3,500–4,200 requests per second (``wrk``, the same server side by side).

Per request, gunicorn's own Python cost more than the application's answer to ``/health``
(py-spy on a worker under ``wrk -c4``: parsing, the environ, the response's header checks,
two sends and three socket-timeout system calls). Cheaper here, for every request, through
gunicorn's classes (each override is small; the checks stay gunicorn's own code):

- :class:`Response` (``handle_request`` passes it to gunicorn's ``wsgi.create``) checks a
  (name, value) header pair once per worker (:data:`VALID_HEADERS_MAX` remembered): an
  application's security headers and content types are the same strings on every response;
  a pair not met before — or not two plain ``str`` — goes through gunicorn's checks, which
  raise what they raise. It also sends the head and a body of known length (up to
  :data:`ONE_SEND_MAX`) in one system call (gunicorn: two, and two TCP segments);
- :class:`Request` asks once per connection whether the peer is a trusted proxy
  (``forwarded_allow_ips``; gunicorn parses the peer's address on every request);
- :class:`RequestParser` (each connection's, via :class:`Connection`) does not drain a
  request body that is empty or read to its end — gunicorn's drain reads nothing then either,
  but sets and resets the socket's timeout around it, three system calls a request;
- gunicorn-h1c, gunicorn's C parser of request heads, is a dependency: gunicorn's own
  ``http_parser = 'auto'`` takes it.

gunicorn's parse + ``handle_request`` of a ``GET`` with a trivial app sending 10 headers, on
a socket pair (the same loop for both worker classes, p50 of 20,000 requests, three runs each,
interleaved): gthread 55–62 µs (51 with gunicorn-h1c), ours 38–39 µs (32–34 with it). Under
``maas bench http`` on Bronx, with the accept wait and the linger limit above as well,
``/health`` per second over ``/plan`` per second at 1 / 4 / 16 connections was 5.43–8.28 in
all 15 loads of five runs (docs/planner.md, "Worker class"). The tests run the same requests,
hostile ones included, through gunicorn's own classes and ours and require the same bytes
back (tests/test_gunicorn_worker.py).
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, ClassVar

from gunicorn import util
from gunicorn.http import message, parser, wsgi
from gunicorn.http.body import LengthReader
from gunicorn.workers import gthread

# long enough for a client's next request sent on receipt of an answer (tens of µs on a
# local network, a few ms over the internet for a page's follow-up calls), short enough that
# a quiet connection returns to the poller before a queued request would notice
LINGER_MS = 2
# a thread lingers only while at most this many connections are at work in its worker: with
# more, the pool's threads take queued connections one after another without sleeping, and
# every lingering thread would wake for each request (see ThreadWorker._next_request_soon)
LINGER_BUSY_MAX = 4

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


# the (name, value) response header pairs that passed gunicorn's checks, with the value it
# sends (stripped) and, for a Content-Length, the length: an application sends the same
# security headers, content types and cache rules on every response. Bounded: emptied when
# full (a unique request id per response adds a pair each time), it refills from the next
# responses.
VALID_HEADERS_MAX = 1024
# a body up to this size goes out in one send with the response head (one copy of the body)
ONE_SEND_MAX = 64 * 1024


class Response(wsgi.Response):  # type: ignore[misc]  # gunicorn has no types
    """gunicorn's HTTP/1 response, checking each (name, value) header pair once per worker
    and sending a body of known length in one system call with the head."""

    valid_headers: ClassVar[dict[tuple[str, str], tuple[str, int | None]]] = {}
    headers_sent: bool
    sent: int

    def process_headers(self, headers: Iterable[Any]) -> None:
        """gunicorn's checks and bookkeeping for a header pair not met before; a pair of
        plain strings that passed them already is kept as it was then, without the checks.
        Hop-by-hop fields (Connection, Upgrade, ...) always go through gunicorn's code."""
        valid = self.valid_headers
        kept = self.headers
        for name, value in headers:
            if type(name) is not str or type(value) is not str:  # a str subclass included
                super().process_headers(((name, value),))  # what gunicorn raises or does
                continue
            known = valid.get((name, value))
            if known is not None:
                kept.append((name, known[0]))
                if known[1] is not None:
                    self.response_length = known[1]
                continue
            before = len(kept)
            super().process_headers(((name, value),))  # raises what gunicorn raises
            if len(kept) == before + 1:  # kept: not a hop-by-hop field it drops
                if name.lower() == "content-length":
                    known = (kept[-1][1], self.response_length)
                elif not util.is_hoppish(name):
                    known = (kept[-1][1], None)
                else:
                    continue
                if len(valid) >= VALID_HEADERS_MAX:
                    valid.clear()
                valid[(name, value)] = known

    def head(self) -> bytes:
        """The status line and header fields as gunicorn writes them."""
        lines = self.default_headers()
        lines.extend([f"{name}: {value}\r\n" for name, value in self.headers])
        lines.append("\r\n")
        return "".join(lines).encode("latin-1")

    def send_headers(self) -> None:
        """gunicorn's, through :meth:`head`."""
        if not self.headers_sent:
            util.write(self.sock, self.head())
            self.headers_sent = True

    def write(self, arg: bytes) -> None:
        """The first piece of a body with a Content-Length that it does not exceed goes out
        in one send with the head (gunicorn sends the head, then the piece: two system calls
        and, on TCP, two segments); everything else is gunicorn's ``write``."""
        if (not self.headers_sent and type(arg) is bytes and arg
                and self.response_length is not None and not self._omits_body
                and not self.chunked and self.sent == 0
                and len(arg) <= min(self.response_length, ONE_SEND_MAX)):
            head = self.head()
            self.headers_sent = True
            self.sent = len(arg)
            util.write(self.sock, head + arg)
            return
        super().write(arg)


class Request(message.Request):  # type: ignore[misc]  # gunicorn has no types
    """gunicorn's request, asking whether the peer is a trusted proxy (``forwarded_allow_ips``:
    it parses the peer's address each time) once per connection."""

    def _peer_is_trusted_proxy(self) -> bool:
        # the unreader is the connection's, for all its requests; so are the peer and cfg
        unreader = self.unreader
        trusted: bool | None = getattr(unreader, "maas_peer_trusted", None)
        if trusted is None:
            trusted = unreader.maas_peer_trusted = bool(super()._peer_is_trusted_proxy())
        return trusted


class RequestParser(parser.RequestParser):  # type: ignore[misc]  # gunicorn has no types
    """gunicorn's HTTP/1 parser of a connection, making :class:`Request` objects and
    skipping the drain of a request body when there is none left to drain."""

    mesg_class = Request

    def finish_body(self, deadline: float | None = None, max_bytes: int | None = None) -> bool:
        """True at once when the last request's body was empty or read to its end (most
        requests: a GET has a body of length 0): gunicorn's reads nothing then either, but
        sets and resets the socket's timeout around reading it, a system call each."""
        body = getattr(self.mesg, "body", None)
        if (body is not None and not body.failed and type(body.reader) is LengthReader
                and body.reader.length == 0 and not body.buf.tell()):
            return True
        return bool(super().finish_body(deadline, max_bytes))


class Connection(gthread.TConn):  # type: ignore[misc]  # gunicorn has no types
    """gthread's connection, parsing HTTP/1 with :class:`RequestParser`."""

    def init(self) -> None:
        super().init()
        if type(self.parser) is parser.RequestParser:
            self.parser.__class__ = RequestParser  # the same object: what init read stays


def adopt(conn: Any) -> Any:
    """gthread's new connection ``conn`` as a :class:`Connection` (the same object: gthread's
    ``accept`` made it and still holds it)."""
    if type(conn) is gthread.TConn:
        conn.__class__ = Connection
    return conn


class ThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]  # gunicorn has no types
    """gthread, answering a kept-alive connection's next request in the same thread, and
    leaving new connections to idle sibling workers first."""

    alive: bool
    _accept_due: float | None = None  # accepting again from then (after leaving one)

    def init_process(self) -> None:
        """After the fork: settle the configuration and the date header (see the module
        notes), then gthread's own set-up and run loop."""
        settle(self.cfg)
        http_date_once_a_second()
        super().init_process()

    def enqueue_req(self, conn: Any) -> None:
        """gthread's, with each new connection made a :class:`Connection` first."""
        super().enqueue_req(adopt(conn))

    def handle(self, conn: Any) -> Any:
        """Answer requests on ``conn`` while the next one arrives within the linger time;
        what the last answer returns goes to gthread's ``finish_request`` as before."""
        result = super().handle(conn)
        while result is True and self._next_request_soon(conn):
            result = super().handle(conn)
        return result

    def handle_request(self, req: Any, conn: Any) -> bool:
        """gthread's ``handle_request`` with :class:`Response`: True to keep the connection
        open for another request."""
        environ: dict[str, Any] = {}
        resp = None
        cfg = self.cfg
        try:
            cfg.pre_request(self, req)
            started = time.perf_counter()
            resp, environ = wsgi.create(req, conn.sock, conn.client, conn.server, cfg,
                                        response_class=Response)
            environ["wsgi.multithread"] = True
            self.nr += 1
            if self.nr >= self.max_requests:
                if self.alive:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
                resp.force_close()
            if not self.alive or not cfg.keepalive or \
                    len(self.keepalived_conns) >= self.max_keepalived:
                resp.force_close()
            respiter = self.wsgi(environ, resp.start_response)
            try:
                if isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
            finally:
                self.log.access(resp, req, environ,
                                timedelta(seconds=time.perf_counter() - started))
                if hasattr(respiter, "close"):
                    respiter.close()
            if resp.should_close():
                self.log.debug("Closing connection.")
                return False
        except OSError:
            raise  # gthread's handle sorts these out
        except (Exception, SystemExit):
            if resp is not None and resp.headers_sent:
                # the answer has begun (a timeout's abort is SystemExit): a 500 written now
                # would land inside it
                self.log.exception("Error handling request")
                util.close_graceful(conn.sock)
                raise StopIteration() from None
            raise
        finally:
            try:
                cfg.post_request(self, req, environ, resp)
            except Exception:
                self.log.exception("Exception in post_request hook")
        return True

    def _next_request_soon(self, conn: Any) -> bool:
        """True when ``conn`` has (or gets within :data:`LINGER_MS`) the start of
        another request, this worker still runs, no request waits for a thread and at most
        :data:`LINGER_BUSY_MAX` connections are at work here."""
        if not self.alive or conn.is_http2 or conn.parser is None:
            return False
        if conn.parser.unreader.buf.getvalue():
            return True  # read ahead with the previous request
        if self.tpool._work_queue.qsize():  # ThreadPoolExecutor has no public view of it
            return False
        if self._at_work() > LINGER_BUSY_MAX:
            return False  # many connections at work: the pool's threads chain through them
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
            busy = self._at_work()
            if busy > 0 and self.cfg.workers > 1:
                self._accept_due = now + min(busy * ACCEPT_STEP_S, ACCEPT_DEFER_MAX_S)
                super().set_accept_enabled(False)
                return
        super().accept(listener)

    def _at_work(self) -> int:
        """Connections this worker holds that are not idle in its poller: being answered,
        lingering, or queued for a thread. (The main thread keeps these counts; a request
        thread reading them may be a moment behind, which a heuristic can afford.)"""
        return int(self.nr_conns) - len(self.keepalived_conns) - len(self.pending_conns)

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
