"""The server's worker class (maas.gunicorn_worker): gthread whose request thread answers a
kept-alive connection's next request itself, on the real demo server."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import RunningServer, free_port, wait_for_http

pytestmark = pytest.mark.server

HEALTH = "/api/v1/health"


def _connection(server: RunningServer) -> http.client.HTTPConnection:
    address = urllib.parse.urlsplit(server.base_url)
    return http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port,
                                      timeout=10)


def _raw(server: RunningServer) -> socket.socket:
    address = urllib.parse.urlsplit(server.base_url)
    return socket.create_connection((address.hostname or "127.0.0.1", address.port or 80),
                                    timeout=10)


def _read_responses(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """``count`` HTTP/1.1 responses with Content-Length bodies, read off one socket."""
    buffer = b""
    answers: list[tuple[int, bytes]] = []
    while len(answers) < count:
        head_end = buffer.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buffer[:head_end].decode("latin-1").split("\r\n")
            length = next(int(line.split(":", 1)[1]) for line in head
                          if line.lower().startswith("content-length:"))
            if len(buffer) >= head_end + 4 + length:
                body = buffer[head_end + 4:head_end + 4 + length]
                answers.append((int(head[0].split()[1]), body))
                buffer = buffer[head_end + 4 + length:]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {len(answers)} of {count} answers"
        buffer += chunk
    return answers


def test_the_server_runs_the_lingering_gthread_worker(demo_server: RunningServer) -> None:
    log = (demo_server.home / "server.log").read_text(encoding="utf-8")
    assert "Using worker: maas.gunicorn_worker.ThreadWorker" in log


def test_a_kept_alive_connection_gets_every_answer_quick_or_after_a_pause(
        demo_server: RunningServer) -> None:
    connection = _connection(demo_server)
    try:
        ids = []
        # at once (the same thread answers), then after pauses well past the linger time (the
        # connection went back to the poller and a thread takes it up again)
        for pause in (0, 0, 0, 0.05, 0, 0.3, 0):
            time.sleep(pause)
            connection.request("GET", HEALTH)
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200
            assert json.loads(body)["status"] == "ok"
            assert response.getheader("Connection", "keep-alive").lower() != "close"
            ids.append(response.getheader("X-Request-ID"))
        assert len(set(ids)) == len(ids)  # seven requests, seven answers of their own
    finally:
        connection.close()


def test_pipelined_requests_are_answered_in_order(demo_server: RunningServer) -> None:
    # two requests in one segment: the second is read ahead with the first and must be
    # answered without waiting for more bytes
    sock = _raw(demo_server)
    try:
        request = (f"GET {HEALTH} HTTP/1.1\r\nHost: t\r\n\r\n"
                   "GET /api/v1/nowhere HTTP/1.1\r\nHost: t\r\n\r\n").encode()
        sock.sendall(request)
        answers = _read_responses(sock, 2)
    finally:
        sock.close()
    assert [status for status, _ in answers] == [200, 404]
    assert json.loads(answers[0][1])["status"] == "ok"
    assert json.loads(answers[1][1])["status"] == 404


def test_a_client_closing_after_its_answer_leaves_no_error(demo_server: RunningServer) -> None:
    log_path = demo_server.home / "server.log"
    before = log_path.stat().st_size
    for _ in range(5):
        sock = _raw(demo_server)
        sock.sendall(f"GET {HEALTH} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        assert _read_responses(sock, 1)[0][0] == 200
        sock.close()  # while the thread waits for a next request on it
    time.sleep(0.2)
    with log_path.open(encoding="utf-8") as log:
        log.seek(before)
        added = log.read()
    assert "Traceback" not in added
    assert "Error handling request" not in added


def test_more_busy_connections_than_threads_are_all_served(demo_server: RunningServer) -> None:
    # the demo runs 2 workers of 8 threads: 40 connections each sending requests back to back
    # for a second must all be answered, none left waiting behind a thread that keeps
    # answering its own connection while others queue
    answered = [0] * 40
    failures: list[BaseException] = []
    deadline = time.monotonic() + 1.0

    def client(index: int) -> None:
        connection = _connection(demo_server)
        try:
            while time.monotonic() < deadline or answered[index] == 0:
                connection.request("GET", HEALTH)
                response = connection.getresponse()
                response.read()
                assert response.status == 200
                answered[index] += 1
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures[:3]
    assert all(count > 0 for count in answered), answered


def test_a_settled_configuration_reads_as_gunicorn_s_own() -> None:
    from gunicorn.config import Config

    from maas.gunicorn_worker import settle

    cfg = Config()
    cfg.set("threads", 8)
    cfg.set("keepalive", 5)
    before = {name: getattr(cfg, name) for name in cfg.settings}
    settle(cfg)
    assert {name: getattr(cfg, name) for name in cfg.settings} == before
    assert all(name in vars(cfg) for name in cfg.settings)  # no __getattr__ any more
    assert (cfg.threads, cfg.keepalive, bool(cfg.is_ssl)) == (8, 5, False)
    assert cfg.worker_class_str == "gthread"  # properties read the settled values


def test_the_date_header_text_is_gunicorn_s_for_the_current_second() -> None:
    import email.utils

    from gunicorn import util

    from maas.gunicorn_worker import _SecondDate

    plain = util.http_date if not isinstance(util.http_date, _SecondDate) else \
        util.http_date.plain
    cached = _SecondDate(plain)
    first = cached()
    assert cached() is first or cached() == plain()  # the same second's text, or the next's
    parsed = email.utils.parsedate_to_datetime(first)
    assert abs(parsed.timestamp() - time.time()) < 2
    assert cached(0) == plain(0) == "Thu, 01 Jan 1970 00:00:00 GMT"


def test_the_server_s_date_header_is_now(demo_server: RunningServer) -> None:
    import email.utils

    connection = _connection(demo_server)
    try:
        for _ in range(3):
            connection.request("GET", HEALTH)
            response = connection.getresponse()
            response.read()
            date = email.utils.parsedate_to_datetime(response.getheader("Date") or "")
            assert abs(date.timestamp() - time.time()) < 2
    finally:
        connection.close()


# A WSGI app answering with the worker's process id after a short pause (a busy request), for
# the spread of connections over workers; run by gunicorn from this file's text.
_PID_APP = """
import os, time

def app(environ, start_response):
    time.sleep(0.05)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""


def _wait_for_workers(port: int, workers: int) -> None:
    """Until ``workers`` different processes have answered (each has started polling)."""
    seen: set[bytes] = set()
    deadline = time.monotonic() + 60
    while len(seen) < workers:
        assert time.monotonic() < deadline, f"only {len(seen)} workers answered"
        sockets = [socket.create_connection(("127.0.0.1", port), timeout=10)
                   for _ in range(workers)]
        try:
            for sock in sockets:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            seen.update(_read_responses(sock, 1)[0][1] for sock in sockets)
        finally:
            for sock in sockets:
                sock.close()


def test_a_burst_of_connections_is_spread_over_the_workers(tmp_path: Path) -> None:
    (tmp_path / "pid_app.py").write_text(_PID_APP, encoding="utf-8")
    port = free_port()
    with (tmp_path / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "--threads", "8", "--worker-class", "maas.gunicorn_worker.ThreadWorker",
             "--chdir", str(tmp_path), "pid_app:app"],
            stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/", 60, process)
            _wait_for_workers(port, 2)
            shares = []
            for _ in range(10):
                # eight connections at once, each then busy with a request: no worker may take
                # (nearly) all of them while the other idles
                sockets = [socket.create_connection(("127.0.0.1", port), timeout=10)
                           for _ in range(8)]
                try:
                    for sock in sockets:
                        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    pids = [_read_responses(sock, 1)[0][1] for sock in sockets]
                finally:
                    for sock in sockets:
                        sock.close()
                shares.append(sorted(Counter(pids).values(), reverse=True))
            # ten bursts of 8 seen with gthread's accepting: 8/0 or 7/1 in 6-9 of them, the
            # busier worker taking 68-75 of the 80 connections; spread: 4/4, 5/3 and once 6/2,
            # 41-45 of 80 (the bounds leave room for a loaded machine's late wake-ups)
            busier = [share[0] for share in shares]
            assert sum(busier) <= 56, shares
            assert sum(1 for most in busier if most >= 7) <= 2, shares
        finally:
            process.terminate()
            process.wait(timeout=30)
