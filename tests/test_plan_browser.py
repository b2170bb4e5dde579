"""Trip planning on the rider page in Chromium, on a 390×844 phone: find 兼六園 by kana and by
its English name, plan from 金沢駅, see the trip on the map (the drawn GeoJSON features are
counted on the map element; a screenshot is kept), choose the cheapest, buy the day pass from
the result and show it. Also what the page transfers on first load."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import RunningServer, wait_until_controlled

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def choose_place(page: Page, field: str, typed: str, option: str) -> None:
    """Type into a place field and pick the option with the keyboard (the list is a listbox)."""
    box = page.locator(f"#plan-{field}")
    box.fill(typed)
    listbox = page.locator(f"#plan-{field}-list")
    expect(listbox.get_by_role("option", name=re.compile(option)).first).to_be_visible()
    names = listbox.get_by_role("option").all_inner_texts()
    index = next(i for i, name in enumerate(names) if re.search(option, name))
    for _ in range(index + 1):
        box.press("ArrowDown")
    expect(box).to_have_attribute("aria-activedescendant", f"plan-{field}-option-{index}")
    box.press("Enter")
    expect(listbox).to_be_hidden()


def plan_and_map(page: Page, tmp_path: Path, name: str) -> dict[str, str]:
    page.locator("#plan-button").click()
    results = page.locator("#plan-results > li")
    expect(results.first).to_be_visible(timeout=20_000)
    page_map = page.locator("#plan-map")
    expect(page_map).not_to_have_attribute("data-features", "0")
    page.wait_for_function("() => typeof L !== 'undefined'")
    attributes: dict[str, str] = page.evaluate(
        "() => ({...document.getElementById('plan-map').dataset})")
    assert int(attributes["legs"]) >= 1
    assert int(attributes["drawnLayers"]) == int(attributes["features"])
    # the map's layers are what the page says it drew: Leaflet's own count of paths and markers
    drawn = page.evaluate("() => document.querySelectorAll('#plan-map path.leaflet-interactive')"
                          ".length")
    assert drawn == int(attributes["features"])
    # the network under it (GET /api/v1/map/network), drawn but not counted as the trip
    page.wait_for_function("() => Number(document.getElementById('plan-map')"
                           ".dataset.networkFeatures) > 0")
    page.screenshot(path=str(tmp_path / f"plan-{name}.png"), full_page=True)
    return attributes


# (browser locale, page language, from: typed and option, to: typed and option, the texts a
# rider sees: the choose button, the day's summary, the QR code's name)
LANGUAGE_RUNS = [
    ("ja-JP", "ja", ("金沢駅", "金沢駅"), ("けんろくえん", "兼六園"),
     ("この経路にする", "乗車券なしで", "乗車券のQRコード（5秒ごとに更新）")),
    ("en-US", "en", ("Kanazawa Station", "Kanazawa"), ("Kenroku", "Kenroku"),
     ("Choose this trip", "without a pass", "Pass QR code (renewed every 5 seconds)")),
    ("zh-CN", "zh-Hans", ("金沢駅", "金"), ("けんろくえん", "兼六"),
     ("选择此路线", "不用乘车券", "乘车券二维码（每 5 秒更新）")),
]


@pytest.mark.parametrize(("locale", "language", "start", "end", "texts"), LANGUAGE_RUNS,
                         ids=[run[1] for run in LANGUAGE_RUNS])
def test_plan_from_kanazawa_station_to_kenrokuen_then_buy_the_pass(
    browser: Browser, demo_server: RunningServer, tmp_path: Path, locale: str, language: str,
    start: tuple[str, str], end: tuple[str, str], texts: tuple[str, str, str],
) -> None:
    """The whole trip in the browser's language (navigator.languages picks it): find 兼六園 by
    kana or by English, plan from 金沢駅, the map, the cheapest trip, the pass bought from the
    result and shown, and the last plan read again offline."""
    choose_text, day_text, qr_name = texts
    context = browser.new_context(viewport=PHONE, locale=locale, timezone_id="Asia/Tokyo")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{demo_server.base_url}/app")
        expect(page.locator("html")).to_have_attribute("lang", language)
        # signed in first: the pass is bought from the result
        page.locator("#auth-email").fill(f"planner-{uuid.uuid4().hex[:8]}@example.jp")
        page.locator("#auth-password").fill("correct horse battery")
        page.locator("#sign-up").click()
        expect(page.locator("#rider-email")).to_contain_text("@example.jp")

        choose_place(page, "from", *start)
        choose_place(page, "to", *end)
        attributes = plan_and_map(page, tmp_path, language)
        # the trip's stops and bike ports are drawn as points beside its legs
        assert int(attributes["stops"]) + int(attributes["bikeStations"]) >= 1
        assert int(attributes["features"]) == (
            int(attributes["legs"]) + int(attributes["stops"]) + int(attributes["bikeStations"]))
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        # the cheapest trip is chosen and counted for its day against the one-day pass
        cards = page.locator("#plan-results > li")
        fares = [int(card.get_attribute("data-fare-yen") or "0") for card in cards.all()]
        cheapest = fares.index(min(fares))
        cards.nth(cheapest).get_by_role("button", name=choose_text).click()
        day = page.locator("#plan-day")
        expect(day).to_be_visible()
        assert day.get_attribute("data-total-yen") == str(min(fares))
        expect(page.locator("#plan-day-sum")).to_contain_text(day_text)
        page.locator("#plan-buy").click()
        expect(page.locator("#buy-date")).to_have_value(day.get_attribute("data-date") or "")
        expect(page.locator("#buy-product")).to_have_value(
            day.get_attribute("data-product") or "")
        page.locator("#buy-button").click()
        page.locator("#bind-confirm").click()
        qr = page.get_by_role("img", name=qr_name)
        expect(qr).to_have_attribute("data-shown-at", re.compile(r"^\d+$"))
        page.locator("#pass-close").click()

        # the last plan stays readable with no network: the service worker has the page, its
        # scripts and Leaflet, localStorage the plan
        destination = page.locator("#plan-to").input_value()
        wait_until_controlled(page)
        context.set_offline(True)
        page.reload()
        expect(page.locator("#plan-results > li").first).to_be_visible()
        expect(page.locator("#plan-to")).to_have_value(destination)
        expect(page.locator("#plan-map")).to_have_attribute("data-features",
                                                            attributes["features"])
    finally:
        context.close()
    assert errors == []


def test_first_load_transfers(browser: Browser, demo_server: RunningServer,
                              tmp_path: Path) -> None:
    """What a rider's phone downloads to open /app the first time (the map library comes with
    the first plan): recorded, and held under a budget."""
    context = browser.new_context(viewport=PHONE, locale="ja-JP", timezone_id="Asia/Tokyo")
    page = context.new_page()
    sizes: list[tuple[str, str, int]] = []

    def finished(request: object) -> None:
        from playwright.sync_api import Request

        assert isinstance(request, Request)
        measured = request.sizes()
        sizes.append((request.url, request.resource_type,
                      measured["responseBodySize"] + measured["responseHeadersSize"]))

    page.on("requestfinished", finished)
    try:
        page.goto(f"{demo_server.base_url}/app")
        page.wait_for_function("() => document.body.dataset.planReady === 'true'")
        page.wait_for_load_state("networkidle")
    finally:
        context.close()
    script_bytes = sum(size for url, kind, size in sizes if kind == "script")
    total = sum(size for _, _, size in sizes)
    report = {"requests": len(sizes), "script_bytes": script_bytes, "total_bytes": total,
              "files": sizes}
    (tmp_path / "first-load.json").write_text(json.dumps(report, indent=2))
    print(f"first load of /app: {len(sizes)} requests, JavaScript {script_bytes} bytes, "
          f"total {total} bytes")
    assert not any("leaflet" in url for url, _, _ in sizes)  # loaded with the first plan
    assert script_bytes < 150_000


def test_the_day_pass_is_recommended_once_the_day_s_trips_cost_more(
    page: Page, demo_server: RunningServer
) -> None:
    """Four bus trips of one day cost more than the ¥800 bus pass: the page says so and buying
    from there fills in that pass and that day."""
    page.goto(f"{demo_server.base_url}/app")
    page.get_by_role("checkbox", name="まちのり").uncheck()  # buses only
    choose_place(page, "from", "金沢駅", "金沢駅")
    choose_place(page, "to", "けんろくえん", "兼六園")
    day = page.locator("#plan-day")
    total = 0
    for hour in (9, 11, 14, 16):
        page.fill("#plan-time", f"{tomorrow()}T{hour:02d}:00")
        page.locator("#plan-button").click()
        card = page.locator("#plan-results > li").first
        expect(card).to_contain_text(f"{hour:02d}:", timeout=20_000)
        fare = int(card.get_attribute("data-fare-yen") or "0")
        assert fare > 0
        total += fare
        card.get_by_role("button", name="この経路にする").click()
        expect(day).to_have_attribute("data-total-yen", str(total))
    assert total > 800
    expect(day).to_have_attribute("data-recommend", "true")
    expect(day).to_have_attribute("data-product", "kanazawa-1day")
    expect(day).to_have_attribute("data-date", tomorrow())
    expect(page.locator("#plan-day-sum")).to_contain_text("お得です")
    page.get_by_role("button", name="この日の乗車券を買う").click()
    expect(page.locator("#auth-email")).to_be_focused()  # signed out: the account form first


def tomorrow() -> str:
    from maas.core.clock import TOKYO

    return (dt.datetime.now(TOKYO).date() + dt.timedelta(days=1)).isoformat()
