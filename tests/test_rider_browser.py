"""The rider page in chromium against a real server: sign up, buy, show, and show it offline.

The QR code is read back from a screenshot with zxing-cpp and checked the way a validator does:
the credential against the server's JWKS, the phone's signature against the key bound into it,
the time within ±45 s. "Offline" is real: the browser reaches the server through a relay that
the test cuts (Playwright's offline switch does not reach service workers everywhere), and the
context is switched offline as well.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import socket
import threading
import urllib.request
import uuid
from collections.abc import Iterator

import jwt
import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from maas.core.clock import TOKYO
from maas.core.config import DEV_SECRET_KEY
from passes import credential
from passes.bundle import colour_of_day, colour_secret
from tests.conftest import RunningServer, wait_until_controlled
from tests.test_pages_browser import ARTIFACTS

pytestmark = pytest.mark.browser
WINDOW = dt.timedelta(seconds=45)  # what validators accept around their own clock


class Relay:
    """A TCP relay to the server; :meth:`cut` is the phone losing its network."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.base_url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.running = True
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """Refuse new connections and break the open ones."""
        self.running = False
        self.acceptor.join()
        self.listener.close()
        with self.lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()


@pytest.fixture
def relay(demo_server: RunningServer) -> Iterator[Relay]:
    relay = Relay(int(demo_server.base_url.rsplit(":", 1)[1]))
    yield relay
    if relay.running:
        relay.cut()


def issuing_keys(base_url: str) -> dict[str, ec.EllipticCurvePublicKey]:
    """The server's published keys, as a validator would load them."""
    with urllib.request.urlopen(f"{base_url}/.well-known/jwks.json") as response:  # noqa: S310
        document = json.load(response)
    keys: dict[str, ec.EllipticCurvePublicKey] = {}
    for jwk in document["keys"]:
        key = jwt.PyJWK(jwk).key
        assert isinstance(key, ec.EllipticCurvePublicKey)
        keys[jwk["kid"]] = key
    return keys


def read_code(qr: Locator) -> str:
    """The text of the QR code as the screen shows it."""
    [result] = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.screenshot())))
    assert result.format == zxingcpp.BarcodeFormat.QRCode
    return str(result.text)


def check(payload: str, keys: dict[str, ec.EllipticCurvePublicKey]) -> credential.PassClaims:
    """Verify a scanned code the way a validator does (raises CredentialError otherwise)."""
    presentation = credential.parse_presentation(payload)
    claims = credential.verify(presentation.credential, keys)
    credential.verify_presentation(presentation, claims)
    assert presentation.shown_at is not None
    assert abs(presentation.shown_at - dt.datetime.now(dt.UTC)) <= WINDOW
    return claims


def test_rider_buys_a_pass_and_shows_a_rotating_code_also_offline(
    page: Page, relay: Relay, demo_server: RunningServer
) -> None:
    page.goto(f"{relay.base_url}/app")
    page.get_by_label("メールアドレス").fill(f"rider-{uuid.uuid4().hex[:8]}@example.jp")
    page.get_by_label("パスワード（8文字以上）").fill("correct horse battery")
    page.get_by_role("button", name="新規登録").click()
    expect(page.locator("#rider-email")).to_contain_text("@example.jp")

    expect(page.get_by_label("カード番号（テスト用カード）")).to_have_value("4242 4242 4242 4242")
    page.get_by_role("combobox", name="乗車券", exact=True).select_option("kanazawa-1day")
    page.get_by_role("button", name="購入する").click()
    expect(page.locator("#buy-message")).to_have_text("購入しました（￥800）。")  # Intl ja-JP
    page.get_by_role("button", name="この端末で表示する").click()  # the first show binds

    qr = page.get_by_role("img", name="乗車券のQRコード（5秒ごとに更新）")
    expect(qr).to_have_attribute("data-shown-at", re.compile(r"^\d+$"))
    today = dt.datetime.now(TOKYO).date()
    expect(page.locator("#pass-category")).to_have_text("大人")
    expect(page.locator("#pass-date")).to_contain_text(f"{today.year}年{today.month}月{today.day}日")
    expect(page.locator(".only-today")).to_have_text("当日限り")
    secret = colour_secret(os.environ.get("MAAS_SECRET_KEY", DEV_SECRET_KEY))
    colour = colour_of_day(today, secret)
    expect(page.locator("#pass-band")).to_have_attribute("aria-label", f"今日の色 {colour}")

    keys = issuing_keys(demo_server.base_url)
    first = read_code(qr)
    claims = check(first, keys)
    assert (claims.product, claims.category, claims.service_date) == (
        "kanazawa-1day", "adult", today)
    assert claims.device_key is not None  # bound to the key made in this browser
    assert int(qr.get_attribute("data-version") or 99) <= 15

    # the service worker has the page; then the network goes away
    wait_until_controlled(page)
    relay.cut()
    page.context.set_offline(True)
    page.reload()
    expect(qr).to_have_attribute("data-shown-at", re.compile(r"^\d+$"))
    expect(page.locator("#pass-category")).to_have_text("大人")
    shown_at = qr.get_attribute("data-shown-at")
    offline = read_code(qr)
    assert check(offline, keys).pass_id == claims.pass_id
    expect(qr).not_to_have_attribute("data-shown-at", shown_at or "", timeout=8000)
    rotated = read_code(qr)
    assert check(rotated, keys).pass_id == claims.pass_id
    assert len({first, offline, rotated}) == 3
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "rider-pass-offline.png"), full_page=True)
