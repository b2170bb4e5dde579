"""The partner dashboard in Chromium: sign in with a key, charts, shares, CSV download."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from maas.core.clock import TOKYO, system_clock
from maas.core.db import create_db_engine, session_factory
from tests.conftest import RunningServer
from tests.test_pages_browser import ARTIFACTS

pytestmark = pytest.mark.browser
# a quiet day long before the simulated ones: two passes sold, fewer than k = 5
QUIET_DAY = dt.datetime.now(TOKYO).date() - dt.timedelta(days=60)
YEN = re.compile("[¥￥][0-9,]+")  # Intl's yen: ￥ in Japanese, ¥ in English
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def partner_keys(demo_server: RunningServer) -> Iterator[dict[str, str]]:
    """Two simulated days in the demo server's database, and an admin and an operator key."""
    from maas.demo.simulate import simulate
    from maas.stats import services

    engine = create_db_engine(f"sqlite:///{demo_server.home / 'maas.sqlite3'}")
    with session_factory(engine)() as session:
        simulate(session, 2, system_clock, passes_per_day=40, seed=11)
        from tests.test_stats import Data

        quiet = Data(session)
        for hour in (9, 10):
            quiet.order(paid_at=dt.datetime.combine(QUIET_DAY, dt.time(hour), TOKYO),
                        service_date=QUIET_DAY)
        keys = {
            "admin": services.add_partner(session, "金沢市", None, system_clock).api_key,
            "jrbus": services.add_partner(session, "西日本JRバス", "jrbus", system_clock).api_key,
        }
    yield keys
    engine.dispose()


def sign_in(page: Page, base_url: str, key: str) -> None:
    page.goto(f"{base_url}/partners")
    page.get_by_label("パートナーAPIキー").fill(key)
    page.get_by_role("button", name="ログイン").click()


def test_wrong_key_is_refused(page: Page, demo_server: RunningServer) -> None:
    sign_in(page, demo_server.base_url, "maas_pk_wrong")
    expect(page.locator("#login-message")).to_have_text("APIキーが正しくありません")
    expect(page.locator("#dashboard")).to_be_hidden()


def test_administrator_sees_charts_shares_and_downloads_csv(
    page: Page, demo_server: RunningServer, partner_keys: dict[str, str]
) -> None:
    sign_in(page, demo_server.base_url, partner_keys["admin"])
    expect(page.locator("#partner-name")).to_have_text("金沢市")
    # the default period ends today, so today's sales show
    today = dt.datetime.now(TOKYO).date()
    expect(page.locator("#period-to")).to_have_value(today.isoformat())
    expect(page.locator("#sales-total")).to_contain_text("枚")
    for chart in ("chart-sales", "chart-hours", "chart-shares"):
        page.wait_for_function(f"() => Chart.getChart('{chart}') !== undefined")
    shares = page.locator("#shares tbody tr")
    # operators by name, not by id, in the table and in the chart
    expect(shares.filter(has_text="北陸鉄道")).to_have_count(1)
    expect(page.locator("#shares tbody tr[data-operator='machinori']")).to_have_count(1)
    labels = page.evaluate("Chart.getChart('chart-shares').data.labels")
    assert "北陸鉄道" in labels
    assert "hokutetsu" not in labels
    # nothing of the dashboard is wider than the phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.locator("#shares tr.total")).to_contain_text(YEN)
    src = page.locator("script[src*='chart.umd.js']").get_attribute("src")
    assert src == "/static/vendor/chart.js/chart.umd.js"  # self-hosted, no CDN
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "partners-dashboard.png"), full_page=True)

    with page.expect_download() as download:
        page.locator("button.csv[data-stat='sales']").click()
    assert download.value.suggested_filename.endswith(".csv")
    path = download.value.path()
    text = path.read_text(encoding="utf-8")
    assert text.startswith("key,passes,revenue_yen,suppressed")
    assert len(text.splitlines()) >= 3  # two simulated days (some bought the evening before)

    # English: every text the script wrote is English, operator names included
    page.get_by_role("button", name="English / 日本語").click()
    expect(page.locator("#sales-total")).to_contain_text("Total")
    expect(page.locator("#period-operator option").first).to_have_text("All operators")
    dashboard = page.locator("#dashboard").inner_text().replace("金沢市", "")  # its own name
    for operator in page.request.get(f"{demo_server.base_url}/api/v1/operators").json():
        if not operator["name_en"]:  # a brand with no English name in the data keeps its own
            dashboard = dashboard.replace(operator["name"], "")
    assert not JAPANESE.search(dashboard), JAPANESE.findall(dashboard)
    labels = page.evaluate("Chart.getChart('chart-shares').data.labels")
    assert "Hokuriku Railroad" in labels
    assert page.evaluate("Chart.getChart('chart-sales').data.datasets[0].label") == "Passes sold"
    page.get_by_role("button", name="English / 日本語").click()

    # a day of two passes: its sales cell says it is suppressed (never "0 passes / ¥0")
    page.fill("#period-from", QUIET_DAY.isoformat())
    page.fill("#period-to", QUIET_DAY.isoformat())
    page.get_by_role("button", name="表示").click()
    expect(page.locator("#sales-total")).to_have_text("非表示（5 枚未満のため）")
    expect(page.locator("#shares tr.total")).to_contain_text(re.compile("[¥￥]1,600"))
    expect(page.locator("#privacy-note")).to_contain_text("利用日")

    page.reload()  # the key stays for this tab
    expect(page.locator("#partner-name")).to_have_text("金沢市")
    page.get_by_role("button", name="ログアウト").click()
    expect(page.locator("#partner-login")).to_be_visible()


def test_operator_sees_its_share_and_the_others_together(
    browser: Browser, demo_server: RunningServer, partner_keys: dict[str, str]
) -> None:
    context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, demo_server.base_url, partner_keys["jrbus"])
    expect(page.locator("#partner-role")).to_have_text("西日本ジェイアールバス")
    expect(page.locator("#period-operator")).to_be_disabled()
    rows = page.locator("#shares tbody tr:not(.total)")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-operator", "jrbus")
    expect(rows.nth(0)).to_contain_text("西日本ジェイアールバス")
    expect(rows.nth(1)).to_contain_text("その他の事業者")
    page.screenshot(path=str(ARTIFACTS / "partners-operator.png"), full_page=True)
    context.close()
    assert errors == []
