"""GTFS-Realtime end to end on the demo feed: `maas realtime`, the poll, plans, departures,
alerts, vehicles and the health report (protobuf built with gtfs-realtime-bindings)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from google.transit import gtfs_realtime_pb2 as rt

from tests.conftest import Runner, fixed_clock

pytestmark = pytest.mark.usefixtures("loaded_demo")
MORNING = "2026-12-01T09:00:00+09:00"
NOW = int(fixed_clock().timestamp())
FEED = "kanazawa-demo"


def header(stamp: int = NOW) -> rt.FeedMessage:
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.timestamp = stamp
    return message


def first_leg(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/plan", query_string={
        "from": "stop:kanazawa-sta-east", "to": "stop:katamachi", "depart": MORNING})
    assert response.status_code == 200, response.get_json()
    legs = [leg for itinerary in response.get_json()["itineraries"] for leg in itinerary["legs"]
            if leg.get("trip_id")]
    first: dict[str, Any] = legs[0]  # the earliest ride
    return first


def delay(leg: dict[str, Any], seconds: int) -> rt.FeedMessage:
    message = header()
    entity = message.entity.add()
    entity.id = "d1"
    entity.trip_update.trip.trip_id = leg["trip_id"]
    entity.trip_update.trip.start_date = leg["service_date"].replace("-", "")
    stu = entity.trip_update.stop_time_update.add()
    stu.stop_id = leg["from"]["stop_id"]
    stu.departure.delay = seconds
    return message


def register(runner: Runner, source: Path | str, kind: str, *extra: str) -> str:
    result = runner.invoke("realtime", "add", str(source), "--feed", FEED, "--kind", kind,
                           *extra)
    assert result.exit_code == 0, result.output
    return f"{FEED}-{kind}"


def poll(runner: Runner, name: str) -> dict[str, Any]:
    import json

    result = runner.invoke("realtime", "poll", name, "--json")
    assert result.exit_code == 0, result.output
    outcome: dict[str, Any] = json.loads(result.output)
    return outcome


def write(path: Path, message: rt.FeedMessage) -> Path:
    path.write_bytes(message.SerializeToString())
    return path


def test_delay_reaches_plan_and_departures(client: FlaskClient, runner: Runner,
                                           tmp_path: Path) -> None:
    scheduled = first_leg(client)
    assert scheduled["realtime"] is False
    assert scheduled["delay_s"] == 0
    assert scheduled["scheduled_departure"] == scheduled["departure"]
    name = register(runner, write(tmp_path / "tu.pb", delay(scheduled, 300)), "trip-updates")
    outcome = poll(runner, name)
    assert (outcome["matched"], outcome["unmatched"], outcome["error_count"]) == (1, 0, 0)
    response = client.get(f"/api/v1/stops/{scheduled['from']['stop_id']}/departures",
                          query_string={"at": MORNING, "limit": 20})
    rows = {row["trip_id"]: row for row in response.get_json()["departures"]}
    row = rows[scheduled["trip_id"]]
    assert (row["delay_s"], row["realtime"]) == (300, True)
    assert row["scheduled_departure"] == scheduled["departure"]
    later = [leg for leg in [first_leg(client)] if leg["trip_id"] == scheduled["trip_id"]]
    for leg in later:  # the delayed bus, if still the best, says so
        assert (leg["delay_s"], leg["realtime"]) == (300, True)
        assert leg["scheduled_departure"] == scheduled["departure"]


def test_canceled_trip_is_not_offered(client: FlaskClient, runner: Runner,
                                      tmp_path: Path) -> None:
    scheduled = first_leg(client)
    message = header()
    entity = message.entity.add()
    entity.id = "c1"
    entity.trip_update.trip.trip_id = scheduled["trip_id"]
    entity.trip_update.trip.start_date = scheduled["service_date"].replace("-", "")
    entity.trip_update.trip.schedule_relationship = rt.TripDescriptor.CANCELED
    poll(runner, register(runner, write(tmp_path / "c.pb", message), "trip-updates"))
    assert first_leg(client)["trip_id"] != scheduled["trip_id"]
    response = client.get(f"/api/v1/stops/{scheduled['from']['stop_id']}/departures",
                          query_string={"at": MORNING, "limit": 50})
    assert scheduled["trip_id"] not in {r["trip_id"] for r in response.get_json()["departures"]}


def alert_message(route: str) -> rt.FeedMessage:
    message = header()
    message.entity.add(id="snow", alert=rt.Alert(
        cause=rt.Alert.WEATHER, effect=rt.Alert.SIGNIFICANT_DELAYS,
        active_period=[rt.TimeRange(start=NOW - 3600, end=NOW + 6 * 3600)],
        informed_entity=[rt.EntitySelector(route_id=route)]))
    alert = message.entity[0].alert
    for text, lang in (("雪のため遅れ", "ja"), ("Delays due to snow", "en")):
        t = alert.header_text.translation.add()
        t.text, t.language = text, lang
    for text, lang in (("大雪のため遅れが出ています", "ja"), ("Heavy snow is delaying buses",
                                                          "en")):
        t = alert.description_text.translation.add()
        t.text, t.language = text, lang
    old = message.entity.add()  # over already: never shown
    old.id = "old"
    old.alert.active_period.add().end = NOW - 3 * 3600
    old.alert.informed_entity.add().route_id = route
    return message


def test_alert_reaches_legs_departures_and_list(client: FlaskClient, runner: Runner,
                                                tmp_path: Path) -> None:
    leg = first_leg(client)
    assert leg["alerts"] == []
    poll(runner, register(runner, write(tmp_path / "a.pb", alert_message(leg["route_id"])),
                          "alerts"))
    leg = first_leg(client)
    assert leg["alerts"] == [{"id": "snow", "header": "雪のため遅れ",
                              "description": "大雪のため遅れが出ています",
                              "effect": "SIGNIFICANT_DELAYS"}]
    response = client.get(f"/api/v1/stops/{leg['from']['stop_id']}/departures",
                          query_string={"at": MORNING, "limit": 30})
    rows = response.get_json()["departures"]
    assert all(bool(r["alerts"]) == (r["route_id"] == leg["route_id"]) for r in rows)
    listed = client.get("/api/v1/alerts", query_string={"lang": "en"}).get_json()
    assert [(a["id"], a["header"], a["cause"]) for a in listed] == [
        ("snow", "Delays due to snow", "WEATHER")]
    assert listed[0]["header_translations"]["ja"] == "雪のため遅れ"
    bad = client.get("/api/v1/alerts", query_string={"lang": "xx"})
    assert bad.status_code == 422
    assert "lang" in str(bad.get_json())


def test_a_plan_and_departures_read_the_realtime_cache_once(
        client: FlaskClient, runner: Runner, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from gtfs.realtime.services import RealtimeCache

    leg = first_leg(client)
    poll(runner, register(runner, write(tmp_path / "tu.pb", delay(leg, 120)), "trip-updates"))
    poll(runner, register(runner, write(tmp_path / "a.pb", alert_message(leg["route_id"])),
                          "alerts"))
    calls: list[int] = []
    current = RealtimeCache.current

    def counted(self: RealtimeCache, *args: Any) -> Any:
        calls.append(1)
        return current(self, *args)

    monkeypatch.setattr(RealtimeCache, "current", counted)
    delayed = first_leg(client)
    assert len(calls) == 1
    # the delay and the alert of the one snapshot on the same leg
    if delayed["trip_id"] == leg["trip_id"]:
        assert (delayed["delay_s"], delayed["realtime"]) == (120, True)
    assert [a["id"] for a in delayed["alerts"]] == ["snow"]
    calls.clear()
    response = client.get(f"/api/v1/stops/{leg['from']['stop_id']}/departures",
                          query_string={"at": MORNING, "limit": 30})
    assert response.status_code == 200
    assert len(calls) == 1
    row = {r["trip_id"]: r for r in response.get_json()["departures"]}[leg["trip_id"]]
    assert (row["delay_s"], [a["id"] for a in row["alerts"]]) == (120, ["snow"])


def test_vehicle_positions_by_route(client: FlaskClient, runner: Runner, tmp_path: Path) -> None:
    leg = first_leg(client)
    message = header()
    for index, (trip, lat) in enumerate([(leg["trip_id"], 36.57), ("unknown", 36.58)]):
        entity = message.entity.add()
        entity.id = f"v{index}"
        entity.vehicle.trip.trip_id = trip
        entity.vehicle.vehicle.id = f"bus-{index}"
        entity.vehicle.position.latitude = lat
        entity.vehicle.position.longitude = 136.65
        entity.vehicle.timestamp = NOW - 30
    stale = message.entity.add()
    stale.id = "stale"
    stale.vehicle.position.latitude = 36.5
    stale.vehicle.position.longitude = 136.6
    stale.vehicle.timestamp = NOW - 3600
    outcome = poll(runner, register(runner, write(tmp_path / "v.pb", message),
                                    "vehicle-positions"))
    assert (outcome["matched"], outcome["stale"]) == (2, 1)
    on_route = client.get("/api/v1/vehicles", query_string={"route": leg["route_id"]})
    assert [(v["id"], v["route_id"]) for v in on_route.get_json()] == [
        ("bus-0", leg["route_id"])]
    assert len(client.get("/api/v1/vehicles").get_json()) == 2


def test_bad_feeds_keep_previous_state_and_show_in_health(
        client: FlaskClient, runner: Runner, tmp_path: Path) -> None:
    scheduled = first_leg(client)
    path = write(tmp_path / "tu.pb", delay(scheduled, 300))
    name = register(runner, path, "trip-updates")
    poll(runner, name)
    for data, why in ((b"\x0a\xff\xff garbage", "not a GTFS-Realtime FeedMessage"),
                      (header(NOW + 3600).SerializeToString(), "in the future")):
        path.write_bytes(data)
        outcome = poll(runner, name)
        assert outcome["error_count"] == 1
        assert why in outcome["errors"][0]
        response = client.get(f"/api/v1/stops/{scheduled['from']['stop_id']}/departures",
                              query_string={"at": MORNING, "limit": 20})
        assert response.status_code == 200
        row = {r["trip_id"]: r for r in response.get_json()["departures"]}[scheduled["trip_id"]]
        assert row["delay_s"] == 300  # the previous snapshot keeps serving
    unknown = header()
    entity = unknown.entity.add()
    entity.id = "u"
    entity.trip_update.trip.trip_id = "no-such-trip"
    write(path, unknown)
    assert poll(runner, name)["unmatched"] == 1
    health = client.get("/api/v1/health").get_json()
    [status] = health["realtime"]
    assert (status["name"], status["unmatched"], status["kind"]) == (name, 1, "trip-updates")
    assert "no-such-trip" in status["errors"][0]
    path.unlink()
    assert "cannot read" in poll(runner, name)["errors"][0]


@pytest.mark.parametrize(("args", "message"), [
    (["--feed", "nope", "--kind", "alerts"], "no GTFS feed named 'nope'"),
    (["--feed", FEED, "--kind", "weather"], "kind:"),
    (["--feed", FEED, "--kind", "alerts", "--interval", "1"], "interval:"),
    (["--feed", FEED, "--kind", "alerts", "--header", "no colon"], "header:"),
])
def test_add_refuses_bad_input(runner: Runner, args: list[str], message: str) -> None:
    result = runner.invoke("realtime", "add", "/tmp/x.pb", *args)  # noqa: S108 - never read
    assert result.exit_code == 1
    assert message in result.output


def test_list_and_remove(runner: Runner, tmp_path: Path) -> None:
    name = register(runner, tmp_path / "a.pb", "alerts", "--interval", "60")
    assert f"{name}: alerts of {FEED} every 60 s" in runner.invoke("realtime", "list").output
    assert runner.invoke("realtime", "remove", name).exit_code == 0
    assert runner.invoke("realtime", "list").output.strip() == "no realtime feeds"
    missing = runner.invoke("realtime", "remove", name)
    assert missing.exit_code == 1
    assert "no realtime feed" in missing.output


@pytest.fixture
def publisher() -> Iterator[tuple[str, list[bytes], list[str]]]:
    """A real HTTP server on 127.0.0.1 serving the last body put in the list, if the request
    carries X-Api-Key: k (requests' keys are recorded)."""
    bodies: list[bytes] = []
    keys: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            keys.append(self.headers.get("X-Api-Key", ""))
            ok = self.headers.get("X-Api-Key") == "k"
            self.send_response(200 if ok else 403)
            body = bodies[-1] if ok else b"forbidden"
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tu.pb", bodies, keys
    server.shutdown()
    server.server_close()


def test_http_feed_with_header(client: FlaskClient, runner: Runner,
                               publisher: tuple[str, list[bytes], list[str]]) -> None:
    url, bodies, keys = publisher
    scheduled = first_leg(client)
    bodies.append(delay(scheduled, 120).SerializeToString())
    name = register(runner, url, "trip-updates", "--header", "X-Api-Key: k")
    assert poll(runner, name)["matched"] == 1
    assert keys == ["k"]
    register(runner, url, "trip-updates", "--name", "no-key")
    assert "403" in poll(runner, "no-key")["errors"][0]
    assert keys == ["k", ""]


def test_demo_publishes_plausible_realtime(app: Any, client: FlaskClient, db_session: Any) -> None:
    """The demo's simulator over real HTTP on 127.0.0.1, polled as the worker polls it."""
    from gtfs.limits import FeedLimits
    from gtfs.network import networks_of
    from gtfs.realtime import services
    from gtfs.realtime.core import TripOverlay
    from maas.demo.services import publish_demo_realtime

    store = networks_of(app.extensions["maas"])
    timetable = store.current(db_session)
    publisher = publish_demo_realtime(lambda: db_session, lambda: timetable, fixed_clock)
    try:
        limits = FeedLimits(allow_private_urls=True)
        outcomes = {kind: services.poll(db_session, f"{FEED}-{kind}", timetable, fixed_clock,
                                        limits)
                    for kind in ("trip-updates", "vehicle-positions", "alerts")}
    finally:
        publisher.stop()
    for kind, outcome in outcomes.items():
        assert outcome.matched > 0, kind
        assert (outcome.unmatched, outcome.errors) == (0, []), kind
    rows = {row.kind: row for row in services.list_feeds(db_session)}
    overlay = TripOverlay.from_document(rows["trip-updates"].document, timetable, FEED)
    assert int(overlay.canceled.sum()) == 1
    store.realtime.forget()
    leg = first_leg(client)
    assert leg["realtime"] is True
    assert 60 <= leg["delay_s"] <= 480
    assert leg["alerts"][0]["header"] == "雪のため遅れ"
    vehicles = client.get("/api/v1/vehicles", query_string={"route": leg["route_id"]})
    assert vehicles.get_json()


def test_poll_due_polls_each_feed_by_its_interval(app: Any, db_session: Any, runner: Runner,
                                                   tmp_path: Path) -> None:
    """The thread-free form of the worker's realtime task."""
    from gtfs.network import networks_of
    from gtfs.realtime import services

    write(tmp_path / "a.pb", alert_message("hokutetsu-10"))
    register(runner, tmp_path / "a.pb", "alerts", "--interval", "60")
    register(runner, tmp_path / "a.pb", "vehicle-positions", "--interval", "10")
    store = networks_of(app.extensions["maas"])
    last: dict[str, float] = {}

    def due(now: float) -> list[str]:
        return sorted(services.poll_due(lambda: db_session, store, fixed_clock, last, now))

    assert due(1000.0) == [f"{FEED}-alerts", f"{FEED}-vehicle-positions"]
    assert due(1005.0) == []
    assert due(1010.0) == [f"{FEED}-vehicle-positions"]
    assert due(1060.0) == [f"{FEED}-alerts", f"{FEED}-vehicle-positions"]
    assert runner.invoke("realtime", "remove", f"{FEED}-alerts").exit_code == 0
    assert due(2000.0) == [f"{FEED}-vehicle-positions"]
    assert set(last) == {f"{FEED}-vehicle-positions"}
