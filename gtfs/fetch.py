"""The one way gtfs fetches a URL: http(s) only, public addresses only, bounded in size and time.

A feed URL comes from an operator, or from a publisher's GBFS discovery file, so it may point
anywhere: at the cloud's metadata service (169.254.169.254), at the database on localhost, at
a file that never ends. :func:`fetch` therefore

- accepts only ``http`` and ``https`` URLs (and redirects to them);
- resolves the host itself, refuses it when *any* of its addresses is loopback, private,
  link-local, multicast, reserved, unspecified or otherwise not public, and connects only to
  the addresses it checked, so a redirect or a second DNS answer cannot slip past (unless
  :attr:`FeedLimits.allow_private_urls`, ``MAAS_ALLOW_PRIVATE_URLS``);
- ignores proxy settings (a proxy would make the connection, unchecked);
- reads the body in chunks, refusing it once it passes the size limit and when the whole
  fetch takes longer than :attr:`FeedLimits.fetch_seconds`.

Every failure is an :class:`maas.core.errors.InvalidInput` naming the URL.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import IO, Any
from urllib.parse import urlsplit

from gtfs.limits import DEFAULT_LIMITS, ENV, FeedLimits, over, parse_json
from maas.core.errors import InvalidInput

CHUNK = 64 * 1024
SOCKET_TIMEOUT = 30.0  # seconds for one connect or read; the whole fetch has its own limit
MAX_REDIRECTS = 5


def check_url(url: str) -> None:
    """Refuse what is not an http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"{url}: only http(s) URLs can be fetched")


def refusal(address: str) -> str | None:
    """Why ``address`` (an IP address) may not be fetched from, or None when it is public."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for what, flag in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if flag:
            return what
    return None if ip.is_global else "non-public"


def _connector(url: str, allow_private: bool) -> Callable[..., socket.socket]:
    """A replacement for :func:`socket.create_connection` that checks what it connects to."""

    def connect(address: tuple[str, int], timeout: float | None = SOCKET_TIMEOUT,
                source_address: tuple[str, int] | None = None) -> socket.socket:
        host, port = address
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise OSError(f"cannot resolve {host}: {exc.strerror}") from None
        if not allow_private:
            for *_, sockaddr in infos:
                why = refusal(str(sockaddr[0]))
                if why:
                    raise InvalidInput(
                        f"{url}: refused: {host} is {sockaddr[0]}, a {why} address "
                        f"({ENV['allow_private_urls']}=1 allows such addresses)"
                    )
        error: OSError = OSError(f"no address for {host}")
        for family, kind, proto, _, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            return sock
        raise error

    return connect


def _opener(url: str, allow_private: bool) -> urllib.request.OpenerDirector:
    connect = _connector(url, allow_private)

    class Connection(http.client.HTTPConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = connect

    class SecureConnection(http.client.HTTPSConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = connect

    class Plain(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(Connection, req)

    class Secure(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(SecureConnection, req,
                                context=getattr(self, "_context", None))

    class Redirects(urllib.request.HTTPRedirectHandler):
        max_redirections = MAX_REDIRECTS

        def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int,
                             msg: str, headers: Any, newurl: str
                             ) -> urllib.request.Request | None:
            if urlsplit(newurl).scheme not in ("http", "https"):
                fp.close()
                raise InvalidInput(f"{url}: refused: redirected to {newurl} (only http(s))")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(urllib.request.ProxyHandler({}), Plain, Secure,
                                       Redirects)


def fetch(url: str, limits: FeedLimits, max_bytes: int, field: str,
          sink: IO[bytes] | None = None, headers: Mapping[str, str] | None = None) -> bytes:
    """GET ``url``; the body is returned, or written to ``sink`` (then ``b""`` is returned).

    ``headers`` are sent besides ours (an API key a realtime publisher asks for).

    ``max_bytes`` bounds the body; ``field`` names the :class:`FeedLimits` field it comes from
    (for the error). Refusals and failures are :class:`InvalidInput` naming the URL.
    """
    check_url(url)
    deadline = time.monotonic() + limits.fetch_seconds
    parts: list[bytes] = []
    size = 0
    # http(s) only: check_url above, and the opener refuses redirects elsewhere
    request = urllib.request.Request(  # noqa: S310
        url, headers={**(headers or {}), "User-Agent": "kanazawa-maas"})
    try:
        opener = _opener(url, limits.allow_private_urls)
        with opener.open(request, timeout=min(SOCKET_TIMEOUT, limits.fetch_seconds)) as response:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise over(url, f"{int(length):,} bytes (Content-Length)", max_bytes, field)
            while chunk := response.read1(CHUNK):  # what has arrived, so time is checked
                size += len(chunk)
                if size > max_bytes:
                    raise over(url, f"more than {max_bytes:,} bytes", max_bytes, field)
                if time.monotonic() > deadline:
                    raise over(url, f"not done after {limits.fetch_seconds:g} s",
                               int(limits.fetch_seconds), "fetch_seconds")
                if sink is None:
                    parts.append(chunk)
                else:
                    sink.write(chunk)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # it holds the response, and with it the socket
        raise InvalidInput(f"{url}: download failed ({exc})") from None
    return b"".join(parts)


def fetch_json(url: str, limits: FeedLimits = DEFAULT_LIMITS) -> Any:
    """GET ``url`` and parse it as JSON within the JSON size and depth limits."""
    data = fetch(url, limits, limits.max_json_bytes, "max_json_bytes")
    return parse_json(data, url, limits)
