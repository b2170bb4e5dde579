"""Realtime on the rider's screen, in Chromium on a 390×844 phone, in Japanese and English: a
server of its own (the demo data, no simulator) reads GTFS-Realtime protobuf built with
gtfs-realtime-bindings — the planned bus 3 minutes late, an alert on its route, a vehicle on
it. The card shows the estimate after the struck timetable time and the delay badge, the ride
its alert (the description on a tap), the map the route's vehicle (Leaflet's own marker
elements). A kept plan shows early, on-time and timetable-only rides and each alert kind. Then
the bus is canceled: the kept plan, opened again, says that it no longer runs."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from google.transit import gtfs_realtime_pb2 as rt
from playwright.sync_api import Browser, Locator, Page, expect

from maas.app import create_app
from maas.cli import cli
from maas.core.clistate import CliState
from tests.conftest import free_port, maas_executable, wait_for_http
from tests.test_plan_browser import choose_place

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
TOKYO = dt.timezone(dt.timedelta(hours=9))
FEED = "kanazawa-demo"
DELAY_S = 180


@dataclass
class Realtime:
    """The server, the app that registers and polls its feeds, and the ride made late."""

    base_url: str
    app: Flask
    home: Path
    leg: dict[str, Any]

    def api(self, path: str, **query: str) -> Any:
        url = f"{self.base_url}/api/v1{path}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
            return json.load(response)

    def rides(self, depart: str) -> list[dict[str, Any]]:
        """The rides of the plan 金沢駅東口 → 片町 leaving at ``depart``."""
        document = self.api("/plan", **{"from": "stop:kanazawa-sta-east", "to": "stop:katamachi",
                                        "depart": depart, "modes": "walk,bus,tram,rail"})
        return [leg for it in document["itineraries"] for leg in it["legs"] if leg["trip_id"]]

    @staticmethod
    def wait_until(condition: Callable[[], bool], seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, "the server never read the new feed"
            time.sleep(0.5)

    def publish(self, kind: str, message: rt.FeedMessage) -> None:
        """Write the feed's protobuf and poll it once, as the worker does."""
        path = self.home / f"{kind}.pb"
        path.write_bytes(message.SerializeToString())
        runner = CliRunner()
        state = CliState(self.app)
        name = f"{FEED}-{kind}"
        listed = runner.invoke(cli, ["realtime", "list", "--json"], obj=state)
        if name not in listed.output:
            added = runner.invoke(cli, ["realtime", "add", str(path), "--feed", FEED, "--kind",
                                        kind], obj=state)
            assert added.exit_code == 0, added.output
        polled = runner.invoke(cli, ["realtime", "poll", name, "--json"], obj=state)
        assert polled.exit_code == 0, polled.output
        outcome = json.loads(polled.output)
        assert (outcome["matched"], outcome["error_count"]) == (len(message.entity), 0), outcome


def header() -> rt.FeedMessage:
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.timestamp = int(time.time())
    return message


def trip_update(leg: dict[str, Any], *, canceled: bool = False) -> rt.FeedMessage:
    message = header()
    entity = message.entity.add()
    entity.id = "late"
    entity.trip_update.trip.trip_id = leg["trip_id"]
    entity.trip_update.trip.start_date = leg["service_date"].replace("-", "")
    if canceled:
        entity.trip_update.trip.schedule_relationship = rt.TripDescriptor.CANCELED
    else:
        update = entity.trip_update.stop_time_update.add()
        update.stop_id = leg["from"]["stop_id"]
        update.departure.delay = DELAY_S
    return message


def snow_alert(leg: dict[str, Any]) -> rt.FeedMessage:
    message = header()
    alert = message.entity.add(id="snow").alert
    alert.cause, alert.effect = rt.Alert.WEATHER, rt.Alert.SIGNIFICANT_DELAYS
    alert.informed_entity.add().route_id = leg["route_id"]
    for field, texts in (("header_text", ("雪のため遅れ", "Delays due to snow")),
                         ("description_text", ("大雪のため遅れが出ています",
                                               "Heavy snow is delaying buses"))):
        for text, language in zip(texts, ("ja", "en"), strict=True):
            translation = getattr(alert, field).translation.add()
            translation.text, translation.language = text, language
    return message


def canceled_trips_alert() -> rt.FeedMessage:
    message = header()
    alert = message.entity.add(id="canceled").alert
    alert.cause, alert.effect = rt.Alert.WEATHER, rt.Alert.NO_SERVICE
    alert.informed_entity.add().agency_id = "hokutetsu"
    for text, language in (("一部の便が運休しています", "ja"), ("Some trips are canceled", "en")):
        translation = alert.header_text.translation.add()
        translation.text, translation.language = text, language
    return message


def vehicle_on(leg: dict[str, Any]) -> rt.FeedMessage:
    message = header()
    vehicle = message.entity.add(id="bus").vehicle
    vehicle.trip.trip_id = leg["trip_id"]
    vehicle.trip.route_id = leg["route_id"]
    vehicle.vehicle.id = "demo-bus-7"
    vehicle.position.latitude = (leg["from"]["lat"] + leg["to"]["lat"]) / 2
    vehicle.position.longitude = (leg["from"]["lon"] + leg["to"]["lon"]) / 2
    vehicle.timestamp = int(time.time()) - 150  # two and a half minutes old
    return message


def weekday_ahead() -> dt.date:
    """A weekday at least two days ahead: the plans are for its afternoon, far from now."""
    day = dt.datetime.now(TOKYO).date() + dt.timedelta(days=2)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


# what the rider types and picks, by page language
PLACES = {"ja": (("金沢駅東口", "^金沢駅東口"), ("片町", "^片町.*バス停")),
          "en": (("Kanazawa Station East", "^Kanazawa Station East Exit"),
                 ("Katamachi", "^Katamachi.*stop"))}


@pytest.fixture(scope="module")
def realtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Realtime]:
    """The demo data on a server of its own (`maas demo --no-serve`, then `maas serve`, with
    no worker: the feeds here are the only realtime), the ride 金沢駅東口 → 片町 of a weekday
    afternoon made late, an alert on its route and a vehicle on it."""
    home = tmp_path_factory.mktemp("realtime-home")
    env = {**os.environ, "MAAS_HOME": str(home), "MAAS_ENV": "demo"}
    env.pop("MAAS_DATABASE_URL", None)
    subprocess.run([maas_executable(), "demo", "--no-serve", "--json"], env=env, check=True,
                   stdout=subprocess.DEVNULL, cwd=home)
    port = free_port()
    with (home / "server.log").open("wb") as log:
        process = subprocess.Popen([maas_executable(), "serve", "--port", str(port),
                                    "--workers", "1"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, cwd=home)
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base_url}/api/v1/health", 90, process)
        app = create_app({"env": "demo", "home": home,
                          "database_url": f"sqlite:///{home / 'maas.sqlite3'}"})
        server = Realtime(base_url, app, home, {})
        depart = f"{weekday_ahead().isoformat()}T14:00:00+09:00"
        server.leg = server.rides(depart)[0]
        server.publish("trip-updates", trip_update(server.leg))
        server.publish("alerts", snow_alert(server.leg))
        server.publish("vehicle-positions", vehicle_on(server.leg))
        # the server's workers read new snapshots within 5 s
        server.wait_until(lambda: any(
            leg["trip_id"] == server.leg["trip_id"] and leg["delay_s"] == DELAY_S
            and leg["alerts"] for leg in server.rides(depart)))
        server.wait_until(lambda: len(server.api("/vehicles", route=server.leg["route_id"])) == 1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def clock(iso: str, language: str, plus_s: int = 0) -> str:
    """A time as the page's Intl writes it (hour and minute, Tokyo)."""
    moment = dt.datetime.fromisoformat(iso).astimezone(TOKYO) + dt.timedelta(seconds=plus_s)
    if language == "ja":
        return moment.strftime("%H:%M")
    return moment.strftime("%I:%M %p")


def plan(page: Page, realtime: Realtime, language: str) -> Locator:
    """Plan 金沢駅東口 → 片町 by bus at 14:00 on the day; the ride made late, on its card."""
    page.goto(f"{realtime.base_url}/app")
    expect(page.locator("html")).to_have_attribute("lang", language)
    page.locator("input[name=mode][value=bike]").uncheck()
    start, end = PLACES[language]
    choose_place(page, "from", *start)
    choose_place(page, "to", *end)
    page.fill("#plan-time", f"{realtime.leg['service_date']}T14:00")
    page.locator("#plan-button").click()
    ride = page.locator(f"#plan-results li[data-trip-id='{realtime.leg['trip_id']}']")
    expect(ride.first).to_be_visible(timeout=20_000)
    return ride.first


def card_of(page: Page, trip: str) -> Locator:
    """The result card holding a ride of ``trip``."""
    return page.locator("#plan-results > li").filter(
        has=page.locator(f"li[data-trip-id='{trip}']"))


@pytest.mark.parametrize(("locale", "language", "texts"), [
    ("ja-JP", "ja", ("3分遅れ", "遅延", "雪のため遅れ", "大雪のため遅れが出ています",
                     r"^\d+分前$")),
    ("en-US", "en", ("3 min late", "Delays", "Delays due to snow",
                     "Heavy snow is delaying buses", r"^\d+ min ago$")),
], ids=["ja", "en"])
def test_late_bus_alert_and_vehicle_on_the_riders_screen(
    browser: Browser, realtime: Realtime, tmp_path: Path, locale: str, language: str,
    texts: tuple[str, str, str, str, str],
) -> None:
    """The late bus: estimate, struck timetable time, badge; its alert; its vehicle."""
    badge_text, kind_text, header_text, description_text, age_text = texts
    context = browser.new_context(viewport=PHONE, locale=locale, timezone_id="Asia/Tokyo")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        ride = plan(page, realtime, language)
        leg = realtime.leg
        expect(ride).to_have_attribute("data-realtime", "true")
        expect(ride).to_have_attribute("data-delay-s", str(DELAY_S))
        expect(ride.locator("del.scheduled")).to_have_text(
            ("時刻表" if language == "ja" else "timetable") + clock(leg["departure"], language))
        expect(ride.locator("time.estimate")).to_have_text(
            clock(leg["departure"], language, DELAY_S))
        expect(ride.locator(".rt-badge.late")).to_have_text(badge_text)
        # the struck time is drawn struck through, the estimate is not
        assert "line-through" in ride.locator("del.scheduled").evaluate(
            "node => getComputedStyle(node).textDecorationLine")

        alert = ride.locator(".leg-alerts li[data-effect='SIGNIFICANT_DELAYS']")
        expect(alert).to_have_count(1)
        expect(alert.locator("summary")).to_have_text(f"{kind_text} {header_text}")
        description = alert.locator("details p")
        expect(description).to_be_hidden()
        alert.locator("summary").click()
        expect(description).to_have_text(description_text)
        card = card_of(page, leg["trip_id"])
        expect(card).to_have_attribute("data-alerts", "1")

        # the chosen trip's vehicle, on Leaflet's marker pane, labelled with route and age
        card.get_by_role("button").click()
        marker = page.locator("#plan-map .leaflet-marker-pane .vehicle-marker")
        expect(marker).to_have_count(1, timeout=10_000)
        expect(page.locator("#plan-map")).to_have_attribute("data-vehicles", "1")
        expect(marker.locator(".vehicle-label")).to_have_text(leg["route_short_name"])
        expect(marker.locator(".vehicle-age")).to_have_text(re.compile(age_text))
        expect(marker.locator("[data-route-id]")).to_have_attribute("data-route-id",
                                                                   leg["route_id"])
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        ride.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / f"realtime-{language}.png"), full_page=True)

        # positions that cannot be fetched again: the last marker stays, marked stale (a
        # switch of language redraws the trip and asks at once)
        page.route("**/api/v1/vehicles*", lambda route: route.abort())
        page.locator("#lang-select").select_option("ko")
        expect(page.locator("#plan-map")).to_have_attribute("data-vehicles-stale", "true")
        expect(marker).to_have_count(1)
        expect(marker).to_have_class(re.compile(r"\bstale\b"))
        expect(card_of(page, leg["trip_id"]).locator(".rt-badge")).to_have_text("3분 지연")
    finally:
        context.close()
    assert errors == []


def test_early_on_time_and_no_realtime_rides_and_alert_kinds(
    page: Page, realtime: Realtime
) -> None:
    """A kept plan (no query kept, so not searched again) with a ride 2 minutes early, one on
    time and one without realtime, and a no-service and an information alert: each as a rider
    reads it."""
    document = realtime.api("/plan", **{"from": "stop:kanazawa-sta-east",
                                         "to": "stop:katamachi",
                                         "depart": realtime.leg["scheduled_departure"],
                                         "modes": "walk,bus"})
    base = document["itineraries"][0]
    ride = next(leg for leg in base["legs"] if leg["trip_id"])
    scheduled = dt.datetime.fromisoformat(ride["scheduled_departure"])

    def variant(trip: str, delay: int, live: bool, alerts: list[dict[str, str]]
                ) -> dict[str, Any]:
        leg = {**ride, "trip_id": trip, "delay_s": delay, "realtime": live, "alerts": alerts,
               "departure": (scheduled + dt.timedelta(seconds=delay)).isoformat()}
        return {**base, "legs": [leg]}

    no_service = {"id": "works", "header": "工事のため運休", "description": "終日運休します",
                  "effect": "NO_SERVICE"}
    notice = {"id": "info", "header": "停留所の移設", "description": "", "effect": "OTHER_EFFECT"}
    kept = {"query": {"from": "金沢駅東口", "to": "片町"}, "chosen": 0, "document": {
        "itineraries": [variant("early", -120, True, [no_service]),
                        variant("on-time", 20, True, [notice]),
                        variant("timetable", 0, False, [])]}}
    page.add_init_script(f"localStorage.setItem('maas-rider-plan', {json.dumps(json.dumps(kept))})")
    page.goto(f"{realtime.base_url}/app")
    page.wait_for_function("() => document.body.dataset.planChecked === 'true'")
    early, on_time, timetable = (page.locator(f"#plan-results li[data-trip-id='{trip}']")
                                 for trip in ("early", "on-time", "timetable"))
    expect(early.locator(".rt-badge.early")).to_have_text("2分早発")
    timetabled = ride["scheduled_departure"]
    expect(early.locator("del.scheduled")).to_have_text("時刻表" + clock(timetabled, "ja"))
    expect(early.locator("time.estimate")).to_have_text(clock(timetabled, "ja", -120))
    expect(early.locator(".leg-alerts summary")).to_have_text("運休 工事のため運休")
    # 20 seconds late is the same minute: on time, and no time struck through
    expect(on_time.locator(".rt-badge.on-time")).to_have_text("定刻")
    expect(on_time.locator("del")).to_have_count(0)
    expect(on_time.locator(".leg-alerts summary")).to_have_text("情報 停留所の移設")
    expect(on_time.locator(".leg-alerts details p")).to_have_count(0)
    expect(timetable.locator(".rt-badge")).to_have_count(0)
    expect(timetable.locator("del")).to_have_count(0)
    expect(page.locator("#plan-notice")).to_be_hidden()


def test_a_canceled_bus_in_the_kept_plan_is_said_so(
    browser: Browser, realtime: Realtime, tmp_path: Path
) -> None:
    """The plan is kept; the bus is canceled meanwhile: opened again online, the page searches
    again, says the chosen bus no longer runs, and no card offers it. (Runs last: it cancels
    the module's late bus.)"""
    context = browser.new_context(viewport=PHONE, locale="ja-JP", timezone_id="Asia/Tokyo")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    trip = realtime.leg["trip_id"]
    try:
        plan(page, realtime, "ja")
        card_of(page, trip).get_by_role("button").click()
        realtime.publish("trip-updates", trip_update(realtime.leg, canceled=True))
        realtime.publish("alerts", canceled_trips_alert())
        realtime.wait_until(lambda: all(
            leg["trip_id"] != trip and leg["alerts"]
            for leg in realtime.rides(realtime.leg["scheduled_departure"])))
        page.reload()
        page.wait_for_function("() => document.body.dataset.planChecked === 'true'")
        notice = page.locator("#plan-notice")
        expect(notice).to_be_visible()
        expect(notice).to_have_attribute("data-gone", "1")
        expect(notice.locator(f"p[data-trip-id='{trip}']")).to_contain_text(
            "運行しなくなりました")
        expect(notice).to_contain_text(clock(realtime.leg["departure"], "ja"))
        expect(page.locator("#plan-results > li").first).to_be_visible()
        expect(page.locator(f"#plan-results li[data-trip-id='{trip}']")).to_have_count(0)
        # the agency's alert of canceled trips reaches the ride offered instead, as 運休
        expect(page.locator("#plan-results .leg-alerts li[data-effect='NO_SERVICE'] summary")
               .first).to_have_text("運休 一部の便が運休しています")
        page.screenshot(path=str(tmp_path / "realtime-canceled.png"), full_page=True)
    finally:
        context.close()
    assert errors == []
