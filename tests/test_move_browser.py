"""A pass on a new phone, in Chromium: the first show says it binds the pass to this phone, a
second browser gets a move screen instead of a failing QR, moves the pass, and after a sync a
real ``maas-validator`` refuses the first phone's fresh code and accepts the second's."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from maas.core.clock import TOKYO
from tests.conftest import RunningServer
from tests.test_pages_browser import ARTIFACTS
from tests.test_rider_browser import read_code
from tests.test_validator_device import enrolled, validator

pytestmark = pytest.mark.browser
__all__ = ["enrolled"]  # the validator fixture, used here by name
PASSWORD = "correct horse battery"
QR_NAME = "乗車券のQRコード（5秒ごとに更新）"


def noon_today() -> dt.datetime:
    """Noon in Kanazawa on today's date: inside the window of a pass bought today (04:00 to
    03:00 the next morning), whatever the real hour; the pages' clocks run from it."""
    return dt.datetime.combine(dt.datetime.now(TOKYO).date(), dt.time(12), TOKYO)


def shown_code(qr: Locator) -> tuple[str, str]:
    """The code on screen, and when the page says it drew it (for the validator's --at)."""
    seconds = int(qr.get_attribute("data-shown-at") or "0")
    return read_code(qr), dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


def sign_in(page: Page, base_url: str, email: str, *, create: bool) -> None:
    page.goto(f"{base_url}/app")
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード（8文字以上）").fill(PASSWORD)
    page.get_by_role("button", name="新規登録" if create else "ログイン").click()
    expect(page.locator("#rider-email")).to_have_text(email)


def test_a_second_phone_moves_the_pass_and_the_first_phone_s_code_is_refused(
    page: Page, browser: Browser, demo_server: RunningServer, enrolled: Path,
) -> None:
    email = f"mover-{uuid.uuid4().hex[:8]}@example.jp"
    noon = noon_today()
    page.context.clock.install(time=noon)
    sign_in(page, demo_server.base_url, email, create=True)
    page.get_by_role("combobox", name="乗車券", exact=True).select_option("kanazawa-1day")
    page.get_by_role("button", name="購入する").click()
    # before the first show: the rider is told that showing ties the pass to this phone
    notice = page.locator("#bind-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("この端末に結びつけられます")
    expect(page.locator("#qr-frame")).to_be_hidden()
    page.get_by_role("button", name="この端末で表示する").click()
    first_qr = page.get_by_role("img", name=QR_NAME)
    expect(first_qr).to_have_attribute("data-shown-at", re.compile(r"^\d+$"))

    other = browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP",
                                timezone_id="Asia/Tokyo")
    other.clock.install(time=noon)
    second = other.new_page()
    errors: list[str] = []
    second.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in(second, demo_server.base_url, email, create=False)
        second.locator("#passes .show-pass").first.click()
        # another phone holds the pass: a clear screen, no QR code that every validator refuses
        move = second.locator("#move-notice")
        expect(move).to_be_visible()
        expect(move).to_contain_text("別の端末に結びつけられています")
        expect(second.locator("#qr-frame")).to_be_hidden()
        second.screenshot(path=str(_artifact("move-screen.png")), full_page=True)
        second.get_by_role("button", name="この端末に移す").click()
        second_qr = second.get_by_role("img", name=QR_NAME)
        expect(second_qr).to_have_attribute("data-shown-at", re.compile(r"^\d+$"))
        expect(move).to_be_hidden()
        moved_code, moved_at = shown_code(second_qr)

        # the first phone still draws codes; a fresh one after the move
        shown_at = first_qr.get_attribute("data-shown-at") or ""
        expect(first_qr).not_to_have_attribute("data-shown-at", shown_at, timeout=8000)
        old_code, old_at = shown_code(first_qr)

        synced = validator(enrolled, "sync")
        assert synced.returncode == 0, synced.stderr
        refused = validator(enrolled, "check", old_code, "--at", old_at, "--json")
        assert refused.returncode == 1, refused.stdout
        assert json.loads(refused.stdout)["code"] == "credential_moved"
        accepted = validator(enrolled, "check", moved_code, "--at", moved_at, "--json")
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        assert json.loads(accepted.stdout)["result"] == "accept"

        # the first phone, back in front, learns of the move: the move screen replaces its code
        page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        expect(page.locator("#move-notice")).to_be_visible()
        expect(page.locator("#qr-frame")).to_be_hidden()

        # moved back and forth: the daily limit (2) answers 429, which the screen tells
        page.get_by_role("button", name="この端末に移す").click()
        expect(first_qr).to_be_visible()
        second.locator("#pass-close").click()
        second.locator("#passes .show-pass").first.click()
        second.get_by_role("button", name="この端末に移す").click()
        expect(second.locator("#move-message")).to_contain_text("今日はこれ以上移せません")
        expect(second.get_by_role("button", name="この端末に移す")).to_be_disabled()
        expect(second.locator("#qr-frame")).to_be_hidden()
    finally:
        other.close()
    assert errors == []


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
