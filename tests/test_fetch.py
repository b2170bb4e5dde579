"""URL fetches from the attacker's side: private addresses, redirects, endless and slow bodies.

The servers here listen on 127.0.0.1. Where a test needs a "public" server to point elsewhere
(a discovery file, a redirect), it declares 127.0.0.1 public by patching gtfs.fetch.refusal for
that one address; every other address keeps the real rule.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from gtfs import fetch
from gtfs.gbfs import read_url
from gtfs.limits import FeedLimits
from gtfs.network import NetworkStore
from gtfs.services import import_gbfs, import_gtfs
from maas.core.errors import InvalidInput
from tests.conftest import Runner, fixed_clock, maas_executable
from tests.feed_bombs import feed_zip
from tests.feed_samples import BASE

LOCAL = FeedLimits(allow_private_urls=True)
Route = Callable[[http.server.BaseHTTPRequestHandler], None]


class Server:
    """An HTTP server on 127.0.0.1 answering paths with functions; counts requests."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.hits: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits.append(self.path)
                route = routes.get(self.path)
                if route is None:
                    self.send_error(404)
                else:
                    route(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def body(data: bytes, *, length: bool = True) -> Route:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        if length:
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    return answer


def redirect(location: str) -> Route:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    return answer


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server({})
    yield running
    running.close()


@pytest.fixture
def loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    real = fetch.refusal
    monkeypatch.setattr(fetch, "refusal",
                        lambda address: None if address == "127.0.0.1" else real(address))


# --- which addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"),
    ("fc00::1", "private"), ("0.0.0.0", "unspecified"),  # noqa: S104 - checked, not bound
    ("::", "unspecified"),
    ("224.0.0.251", "multicast"), ("ff02::1", "multicast"), ("240.0.0.1", "reserved"),
    ("100.64.0.1", "non-public"), ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"),
])
def test_private_addresses_are_named(address: str, why: str) -> None:
    assert fetch.refusal(address) == why


@pytest.mark.parametrize("address", ["8.8.8.8", "133.242.0.1", "2001:4860:4860::8888"])
def test_public_addresses_pass(address: str) -> None:
    assert fetch.refusal(address) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "localhost", "0x7f000001", "0"])
def test_loopback_is_refused_before_any_request(server: Server, host: str) -> None:
    server.hits.clear()
    with pytest.raises(InvalidInput) as caught:
        fetch.fetch_json(server.url("/gbfs.json", host), FeedLimits())
    assert caught.value.detail.startswith(f"{server.url('/gbfs.json', host)}: refused: ")
    assert "MAAS_ALLOW_PRIVATE_URLS=1 allows such addresses" in caught.value.detail
    assert server.hits == []


def test_the_metadata_service_is_refused() -> None:
    started = time.monotonic()
    with pytest.raises(InvalidInput) as caught:
        fetch.fetch_json("http://169.254.169.254/latest/meta-data/")
    assert caught.value.detail == (
        "http://169.254.169.254/latest/meta-data/: refused: 169.254.169.254 is "
        "169.254.169.254, a link-local address (MAAS_ALLOW_PRIVATE_URLS=1 allows such addresses)"
    )
    assert time.monotonic() - started < 5  # refused without trying to connect


@pytest.mark.parametrize("url", ["ftp://example.org/gbfs.json", "file:///etc/passwd",
                                 "gopher://127.0.0.1/", "http:///nohost", "/etc/passwd"])
def test_only_http_urls(url: str) -> None:
    with pytest.raises(InvalidInput, match="only http"):
        fetch.fetch(url, LOCAL, 100, "max_json_bytes")


# --- through what a publisher controls: discovery files and redirects ---------------------------


def test_a_discovery_file_listing_a_link_local_url_is_refused(loopback_is_public: None) -> None:
    discovery = {"last_updated": 0, "ttl": 0, "data": {"en": {"feeds": [
        {"name": "system_information", "url": "http://169.254.169.254/latest/user-data"},
    ]}}}
    public = Server({"/gbfs.json": body(json.dumps(discovery).encode())})
    try:
        _, read = read_url(public.url("/gbfs.json"))
        with pytest.raises(InvalidInput) as caught:
            read("system_information")
        assert caught.value.detail.startswith(
            "http://169.254.169.254/latest/user-data: refused: 169.254.169.254 is "
            "169.254.169.254, a link-local address")
    finally:
        public.close()


def test_a_redirect_to_a_private_address_is_refused(loopback_is_public: None) -> None:
    public = Server({
        "/gbfs.json": redirect("http://169.254.169.254/latest/meta-data/"),
        "/other.json": redirect("http://[::1]:9/x"),
        "/file.json": redirect("file:///etc/passwd"),
    })
    try:
        for path, refused in (("/gbfs.json", "169.254.169.254"), ("/other.json", "::1")):
            with pytest.raises(InvalidInput) as caught:
                fetch.fetch_json(public.url(path))
            assert caught.value.detail.startswith(f"{public.url(path)}: refused: {refused} is ")
        with pytest.raises(InvalidInput) as caught:
            fetch.fetch_json(public.url("/file.json"))
        # urllib refuses this one itself, before our redirect check
        assert "file:///etc/passwd" in caught.value.detail
        assert "not allowed" in caught.value.detail
    finally:
        public.close()


# --- bounded bodies ------------------------------------------------------------------------------


def test_an_endless_body_is_cut_while_streaming() -> None:
    def endless(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.end_headers()  # no Content-Length: the body ends when the server closes
        try:
            for _ in range(10_000):
                handler.wfile.write(b"[" + b"0," * 50_000)
        except OSError:
            pass  # the client hung up, as it should

    served = Server({"/big.json": endless,
                     "/declared.json": body(b"[" + b"0," * 600 + b"0]")})
    try:
        limits = FeedLimits(allow_private_urls=True, max_json_bytes=1_000_000)
        with pytest.raises(InvalidInput) as caught:
            fetch.fetch_json(served.url("/big.json"), limits)
        assert caught.value.detail == (
            f"{served.url('/big.json')}: more than 1,000,000 bytes "
            "(the limit is 1,000,000; MAAS_FEED_MAX_JSON_BYTES raises it)"
        )
        with pytest.raises(InvalidInput, match=r"1,203 bytes \(Content-Length\)"):
            fetch.fetch_json(served.url("/declared.json"),
                             FeedLimits(allow_private_urls=True, max_json_bytes=1000))
    finally:
        served.close()


def test_a_slow_body_is_cut_by_the_time_limit() -> None:
    def trickle(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.end_headers()
        try:
            for _ in range(100):
                handler.wfile.write(b" ")
                handler.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass

    served = Server({"/slow.json": trickle})
    try:
        started = time.monotonic()
        with pytest.raises(InvalidInput) as caught:
            fetch.fetch_json(served.url("/slow.json"),
                             FeedLimits(allow_private_urls=True, fetch_seconds=1))
        assert caught.value.detail.startswith(f"{served.url('/slow.json')}: not done after 1 s")
        assert time.monotonic() - started < 5
    finally:
        served.close()


# --- allowed when configured ----------------------------------------------------------------------


def test_a_gtfs_zip_url_imports_with_the_flag_and_is_refused_without(
    db_session: Session, tmp_path: Path
) -> None:
    archive = feed_zip(tmp_path / "feed.zip", BASE)
    served = Server({"/feed.zip": body(archive.read_bytes())})
    store = NetworkStore(tmp_path / "home")
    try:
        with pytest.raises(InvalidInput, match="a loopback address"):
            import_gtfs(db_session, store, served.url("/feed.zip"), "remote", fixed_clock)
        assert not (store.home / "downloads" / "feed.zip").exists()
        result = import_gtfs(db_session, store, served.url("/feed.zip"), "remote", fixed_clock,
                             LOCAL)
        assert result.feed.summary["stops"] == 4
        with pytest.raises(InvalidInput, match="MAAS_FEED_MAX_ARCHIVE_BYTES"):
            import_gtfs(db_session, store, served.url("/feed.zip"), "remote", fixed_clock,
                        FeedLimits(allow_private_urls=True, max_archive_bytes=500))
    finally:
        served.close()


def test_a_gbfs_url_is_refused_without_the_flag(db_session: Session, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="a loopback address"):
        import_gbfs(db_session, "http://localhost:9/gbfs.json", "x", fixed_clock)


def test_the_test_app_sets_the_flag(runner: Runner) -> None:
    assert runner.app.extensions["maas"].settings.allow_private_urls is True


def test_the_cli_refuses_the_metadata_service_in_one_line(tmp_path: Path) -> None:
    env = {"MAAS_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    for command in (["gtfs", "import", "http://169.254.169.254/latest/feed.zip"],
                    ["gbfs", "import", "http://169.254.169.254/gbfs.json"]):
        result = subprocess.run([maas_executable(), *command], capture_output=True, text=True,
                                env=env, timeout=120, check=False)
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("Error: http://169.254.169.254/")
        assert "link-local address" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_nothing_but_the_helper_opens_urls() -> None:
    """One fetch helper: no other module of gtfs calls urlopen."""
    gtfs = Path(fetch.__file__).parent
    openers = [path.name for path in gtfs.rglob("*.py")
               if "urlopen(" in path.read_text(encoding="utf-8")]
    assert openers == [], openers
    assert sys.modules["gtfs.fetch"] is fetch
