"""The three pages under the Content-Security-Policy in a real chromium, with no violation.

A listener installed before any page script collects every ``securitypolicyviolation`` event
into ``window.__cspViolations``, and the console is watched for what chromium reports of CSP and
Permissions-Policy. Each page is then used a little the way its people use it: a rider signs
up, buys a pass and shows its code (drawn on a canvas by the self-hosted encoder); a driver
enrols and reads a QR code from a picture (the zxing-wasm reader compiles its wasm, which is
what 'wasm-unsafe-eval' allows); a partner signs in, sees the Chart.js charts and downloads a
CSV (a blob: link).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, expect

from maas.app import CONTENT_SECURITY_POLICY
from maas.core.clock import system_clock
from maas.core.db import create_db_engine, session_factory
from passes import credential
from passes import services as pass_services
from tests.conftest import RunningServer, demo_keys, wait_until_controlled
from tests.test_driver_browser import KANAZAWA_STATION, _boarding_time, _enrol, _qr_file, _scan
from tests.test_plan_browser import choose_place, plan_and_map
from validators import services as device_services

pytestmark = pytest.mark.browser

LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push({
    directive: event.effectiveDirective, blocked: event.blockedURI,
    source: event.sourceFile, line: event.lineNumber, sample: event.sample,
  });
}, true);
"""
WATCHED = ("content security policy", "content-security-policy", "refused to",
           "permissions policy", "permissions-policy", "unsafe-eval", "unsafe-inline")


class Watched:
    """A page with its CSP violations, policy console messages and script errors."""

    def __init__(self, context: BrowserContext) -> None:
        self.page = context.new_page()
        self.console: list[str] = []
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _console(self, message: ConsoleMessage) -> None:
        if any(word in message.text.lower() for word in WATCHED):
            self.console.append(f"{message.type}: {message.text}")

    def goto(self, url: str) -> dict[str, str]:
        response = self.page.goto(url)
        assert response is not None
        assert response.ok
        return response.all_headers()

    def violations(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.page.evaluate("window.__cspViolations")
        return found

    def assert_clean(self) -> None:
        assert self.violations() == []
        assert self.console == []
        assert self.errors == []


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP",
                                  timezone_id="Asia/Tokyo", geolocation=KANAZAWA_STATION,
                                  permissions=["geolocation"], accept_downloads=True)
    context.add_init_script(LISTEN)
    yield context
    context.close()


def assert_policy(headers: dict[str, str]) -> None:
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in headers  # the demo is not production


def test_the_listener_sees_a_violation(context: BrowserContext,
                                       demo_server: RunningServer) -> None:
    """The harness itself: an inline script and an inline style are refused and reported."""
    page = Watched(context)
    page.goto(f"{demo_server.base_url}/app")
    page.page.evaluate("""() => {
      const script = document.createElement("script");
      script.textContent = "window.__inlineRan = true";
      document.body.append(script);
      const div = document.createElement("div");
      div.setAttribute("style", "color: red");
      document.body.append(div);
    }""")
    page.page.wait_for_function("() => window.__cspViolations.length >= 2")
    assert page.page.evaluate("window.__inlineRan") is None
    assert {v["directive"] for v in page.violations()} == {"script-src-elem", "style-src-attr"}


def test_rider_page_plans_buys_and_shows_a_pass_without_violations(
        context: BrowserContext, demo_server: RunningServer, tmp_path: Path) -> None:
    rider = Watched(context)
    assert_policy(rider.goto(f"{demo_server.base_url}/app"))
    page = rider.page
    expect(page.locator("#operators li")).to_have_count(5)
    page.get_by_label("メールアドレス").fill(f"csp-{uuid.uuid4().hex[:8]}@example.jp")
    page.get_by_label("パスワード（8文字以上）").fill("correct horse battery")
    page.get_by_role("button", name="新規登録").click()
    expect(page.locator("#rider-email")).to_contain_text("@example.jp")
    page.get_by_role("combobox", name="乗車券", exact=True).select_option("kanazawa-1day")
    page.get_by_role("button", name="購入する").click()
    expect(page.locator("#buy-message")).to_have_text("購入しました（￥800）。")  # Intl ja-JP
    page.get_by_role("button", name="この端末で表示する").click()
    qr = page.get_by_role("img", name="乗車券のQRコード（5秒ごとに更新）")
    expect(qr).to_have_attribute("data-version", re.compile(r"^\d+$"))
    page.locator("#pass-close").click()
    # the planner and its Leaflet map (CSSOM styles, SVG paths) break no rule either
    choose_place(page, "from", "金沢駅", "金沢駅")
    choose_place(page, "to", "兼六", "兼六園")
    plan_and_map(page, tmp_path, "csp")
    page.locator("#lang-select").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    wait_until_controlled(page)
    rider.assert_clean()


def test_driver_page_enrols_and_reads_a_code_without_violations(
        context: BrowserContext, demo_server: RunningServer, tmp_path: Path) -> None:
    moment = _boarding_time()
    phone = ec.generate_private_key(ec.SECP256R1())
    engine = create_db_engine(f"sqlite:///{demo_server.home / 'maas.sqlite3'}")
    with session_factory(engine)() as session:
        enrolment = device_services.add_device(session, "hokutetsu", "bus-csp", None,
                                               system_clock)
        issued = pass_services.issue_pass(session, demo_keys(session), "kanazawa-1day",
                                          moment.date(), "adult", phone.public_key(),
                                          system_clock)
    engine.dispose()
    context.clock.install(time=moment)
    driver = Watched(context)
    assert_policy(driver.goto(f"{demo_server.base_url}/driver"))
    page = driver.page
    _enrol(page, demo_server.base_url, enrolment.enrollment_code)
    expect(page.locator("#day-swatch")).to_have_attribute("data-colour",
                                                          re.compile("^#[0-9A-F]{6}$"))
    at = page.evaluate("Date.now()") / 1000
    shown = credential.present(issued.token, phone, dt.datetime.fromtimestamp(at, dt.UTC))
    _scan(page, _qr_file(tmp_path, "csp", shown), "accept", "有効です")
    expect(page.locator("#status-reader")).to_have_text("zxing-wasm")  # the wasm compiled
    page.get_by_role("button", name="English / 日本語").click()
    wait_until_controlled(page)
    driver.assert_clean()


def test_partner_page_draws_charts_and_downloads_csv_without_violations(
        context: BrowserContext, demo_server: RunningServer) -> None:
    from maas.stats import services

    engine = create_db_engine(f"sqlite:///{demo_server.home / 'maas.sqlite3'}")
    with session_factory(engine)() as session:
        key = services.add_partner(session, "CSP 検査", None, system_clock).api_key
    engine.dispose()
    partner = Watched(context)
    assert_policy(partner.goto(f"{demo_server.base_url}/partners"))
    page = partner.page
    expect(page.locator("#feeds tbody tr")).to_have_count(3)
    page.get_by_label("パートナーAPIキー").fill(key)
    page.get_by_role("button", name="ログイン").click()
    expect(page.locator("#partner-name")).to_have_text("CSP 検査")
    for chart in ("chart-sales", "chart-hours", "chart-shares"):
        page.wait_for_function(f"() => Chart.getChart('{chart}') !== undefined")
    with page.expect_download() as download:
        page.locator("button.csv[data-stat='sales']").click()
    assert download.value.suggested_filename.endswith(".csv")
    page.get_by_role("button", name="ログアウト").click()
    expect(page.locator("#partner-login")).to_be_visible()
    partner.assert_clean()
