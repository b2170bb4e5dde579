"""The web pages in a real browser: Debian's chromium driven by Playwright."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import CHROMIUM_ARGS, REPO, RunningServer, chromium_path

pytestmark = pytest.mark.browser
ARTIFACTS = REPO / "test-artifacts"
# `browser` and `page` (a phone-sized Japanese context) are fixtures in tests/conftest.py
__all__ = ["ARTIFACTS", "CHROMIUM_ARGS", "chromium_path"]


def test_rider_page_lists_products_in_japanese_and_english(
    page: Page, demo_server: RunningServer
) -> None:
    with page.expect_response("**/api/v1/health"):
        page.goto(f"{demo_server.base_url}/app")
    day_pass = page.locator('[data-code="kanazawa-1day"]')
    expect(day_pass.get_by_role("heading")).to_have_text("金沢市内1日フリー乗車券")
    expect(day_pass.locator(".price")).to_have_text("大人 ￥800 / 小児 ￥400")  # Intl ja-JP
    expect(page.locator("#operators li")).to_have_count(5)
    # the footer tells riders nothing of how the service is built (it once named the database)
    page.wait_for_load_state("networkidle")
    expect(page.locator("footer")).not_to_contain_text("sqlite")
    expect(page.locator("#service-status")).to_have_text("")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "rider-ja.png"), full_page=True)

    languages = page.get_by_role("combobox", name=re.compile("Language"))
    languages.select_option("en")
    expect(day_pass.get_by_role("heading")).to_have_text("Kanazawa City 1-Day Free Pass")
    expect(day_pass.locator(".price")).to_have_text("Adult ¥800 / Child ¥400")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.reload()  # the choice of language is remembered
    expect(day_pass.get_by_role("heading")).to_have_text("Kanazawa City 1-Day Free Pass")
    # the other three: the catalogue's texts, Intl's money; a product without a name in the
    # language is shown by its English name
    for language, heading, price in (("zh-Hans", "查询路线", "成人 ¥800 / 儿童 ¥400"),
                                     ("zh-Hant", "查詢路線", "成人 ¥800 / 兒童 ¥400"),
                                     ("ko", "경로 검색", "어른 ¥800 / 어린이 ¥400")):
        languages.select_option(language)
        expect(page.locator("html")).to_have_attribute("lang", language)
        expect(page.locator("#plan-heading")).to_have_text(heading)
        expect(day_pass.locator(".price")).to_have_text(price)
        # no kana left in the page's own texts (operators' names are data, some only in Japanese)
        for section in ("#planner", "#account", "#products-heading"):
            text = page.locator(section).inner_text()
            assert not re.search("[\u3040-\u30ff]", text), text


def test_driver_and_partner_pages(page: Page, demo_server: RunningServer) -> None:
    page.goto(f"{demo_server.base_url}/driver")
    expect(page.get_by_role("heading", level=1)).to_have_text("乗車券チェック")
    expect(page.locator(".result")).to_contain_text("登録")
    page.get_by_role("link", name="パートナー").click()
    expect(page).to_have_url(f"{demo_server.base_url}/partners")
    rows = page.locator("#feeds tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text="gtfs")).to_contain_text("kanazawa-demo")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "partners-ja.png"), full_page=True)


def test_root_redirects_riders_to_their_page(page: Page, demo_server: RunningServer) -> None:
    page.goto(demo_server.base_url + "/")
    expect(page).to_have_url(f"{demo_server.base_url}/app")



def test_svg_qr_rendered_by_the_browser_decodes_to_the_presentation(page: Page) -> None:
    import io

    import zxingcpp
    from cryptography.hazmat.primitives.asymmetric import ec
    from PIL import Image

    from passes import credential, qr
    from tests.conftest import FIXED_NOW

    issuer, phone = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    token = credential.issue(credential.PassClaims(
        credential.new_pass_id(), "kanazawa-1day-machinori", "adult", FIXED_NOW.date(),
        phone.public_key()), issuer, "abcdefgh")
    shown = credential.present(token, phone, FIXED_NOW)
    svg = qr.svg(shown).decode().replace("<svg ", '<svg width="340" height="340" ', 1)
    page.set_content(f'<body style="margin:0;background:#fff">{svg}</body>')
    image = Image.open(io.BytesIO(page.screenshot(clip={"x": 0, "y": 0, "width": 340,
                                                         "height": 340})))
    [result] = zxingcpp.read_barcodes(image)
    assert result.text == shown
