"""GBFS bike share: reading 2.x/3.0 folders and URLs, checks, storage, polling, prices."""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from gtfs import gbfs
from gtfs.limits import FeedLimits
from gtfs.models import FeedSnapshot
from gtfs.network import NetworkStore
from gtfs.poller import GbfsPoller
from gtfs.services import bike_stations, import_gbfs
from maas.core.db import create_db_engine, upgrade
from maas.core.errors import InvalidInput
from maas.demo.kanazawa import gbfs_files
from tests.conftest import FIXED_NOW, SHARED_DATA, Runner, fixed_clock

MACHINORI = SHARED_DATA / "machinori-stations-2024"
TOKYO = SHARED_DATA / "docomo-tokyo-gbfs-2022"
# the tests serve their systems on 127.0.0.1: fetching private addresses must be allowed
LOCAL = FeedLimits(allow_private_urls=True)
PLAN = gbfs.PricingPlan("p", "1回会員", "JPY", 0, (gbfs.PerMinute(0, 165, 30),), 2200)


def write(folder: Path, files: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, document in files.items():
        (folder / name).write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.fixture
def demo_gbfs(tmp_path: Path) -> Path:
    return write(tmp_path / "gbfs", gbfs_files(FIXED_NOW.date()))


def read(folder: Path, name: str = "x") -> gbfs.BikeSystem:
    where, reader = gbfs.read_folder(folder)
    return gbfs.read_system(where, reader, name)


# --- reading ---------------------------------------------------------------------------------


def test_the_demo_snapshot_reads_whole(demo_gbfs: Path) -> None:
    system = read(demo_gbfs)
    assert system.system_id == "machinori"
    assert len(system.stations) == 18
    assert set(system.status) == {s.station_id for s in system.stations}
    assert system.plan() is not None
    assert system.plan().daily_cap == 2200  # type: ignore[union-attr]
    assert system.ttl == 60
    assert gbfs.BikeSystem.from_document(system.to_document()) == system


def test_gbfs_3_localised_names_and_rfc3339_times(tmp_path: Path) -> None:
    stamp = "2026-12-01T08:55:00+09:00"
    folder = write(tmp_path / "v3", {
        "gbfs.json": {"last_updated": stamp, "ttl": 60, "version": "3.0", "data": {"feeds": [
            {"name": "station_information", "url": "https://example.org/si.json"},
            {"name": "station_status", "url": "https://example.org/ss.json"}]}},
        "si.json": {"last_updated": stamp, "ttl": 60, "version": "3.0", "data": {"stations": [
            {"station_id": "a", "name": [{"text": "Port A", "language": "en"},
                                         {"text": "ポートA", "language": "ja"}],
             "lat": 36.57, "lon": 136.65, "capacity": 10}]}},
        "ss.json": {"last_updated": stamp, "ttl": 30, "version": "3.0", "data": {"stations": [
            {"station_id": "a", "num_vehicles_available": 4, "num_docks_available": 6,
             "is_installed": True, "is_renting": True, "is_returning": False,
             "last_reported": stamp}]}},
    })
    system = read(folder, "v3-feed")
    assert system.system_id == "v3-feed"  # no system_information: the feed name
    assert system.stations[0].name == "ポートA"
    assert system.status["a"] == gbfs.StationStatus(
        4, 6, True, True, False, int(dt.datetime.fromisoformat(stamp).timestamp()))
    assert system.ttl == 30
    availability = gbfs.Availability(margin=1, max_age_seconds=600)
    now = int(dt.datetime.fromisoformat(stamp).timestamp()) + 60
    assert availability.can_pick_up(system, "a", now)
    assert not availability.can_drop_off(system, "a", now)  # is_returning false


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["data"]["stations"][1].update(num_bikes_available=-1),
     r"station_status\.json: data\.stations\[1\]\.num_bikes_available: expected an integer"),
    (lambda d: d["data"]["stations"][0].update(is_renting="yes"),
     r"station_status\.json: data\.stations\[0\]\.is_renting: expected true or false"),
    (lambda d: d["data"]["stations"][2].update(station_id="nowhere"),
     r"data\.stations\[2\]\.station_id: 'nowhere' is not in station_information"),
    (lambda d: d.update(data=[]), r"station_status\.json: data: expected an object"),
])
def test_schema_violations_name_file_and_field(demo_gbfs: Path, change: Any,
                                                message: str) -> None:
    path = demo_gbfs / "station_status.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(InvalidInput, match=message):
        read(demo_gbfs)


def test_a_missing_station_information_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"required file station_information\.json"):
        read(write(tmp_path / "empty", {"station_status.json": {"data": {"stations": []}}}))


# --- real data -------------------------------------------------------------------------------


def test_real_machinori_ports_without_status(tmp_path: Path, runner: Runner) -> None:
    folder = tmp_path / "machinori"
    folder.mkdir()
    shutil.copy(MACHINORI / "machinori_station_information.json",
                folder / "station_information.json")
    result = runner.invoke("gbfs", "import", str(folder), "--name", "machinori-2024", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["stations"] == 85
    assert document["docks"] == 969
    assert document["system_id"] == "machinori-2024"
    system = read(folder)
    assert any(s.name == "01.金沢駅" and s.capacity == 73 for s in system.stations)
    assert system.status == {}  # never planned on: availability unknown
    assert not gbfs.Availability().can_pick_up(system, system.stations[0].station_id, 0)


def test_real_tokyo_snapshot_and_status(tmp_path: Path, db_session: Session) -> None:
    folder = tmp_path / "tokyo"
    folder.mkdir()
    shutil.copy(TOKYO / "station_information.json", folder / "station_information.json")
    status_file = TOKYO / "station_status" / "2022_06_29_08_00_24.json"
    shutil.copy(status_file, folder / "station_status.json")
    result = import_gbfs(db_session, str(folder), "tokyo", fixed_clock)
    assert result.feed.summary["stations"] == 1077
    assert result.feed.summary["docks"] == 12791
    raw = json.loads(status_file.read_text(encoding="utf-8"))["data"]["stations"]
    stations = bike_stations(db_session, NetworkStore(tmp_path / "home"),
                             dt.datetime.fromtimestamp(1656457211 + 60, dt.UTC),
                             gbfs.Availability())
    assert sum(s["bikes_available"] or 0 for s in stations) == sum(
        s["num_bikes_available"] for s in raw)
    usable = [s for s in stations if s["can_pick_up"]]
    assert usable
    assert all(s["is_renting"] and s["bikes_available"] >= 1 for s in usable)
    assert not any(s["stale"] for s in stations if s["bikes_available"] is not None
                   and s["station_id"] in {r["station_id"] for r in raw[:50]}
                   and next(r for r in raw if r["station_id"] == s["station_id"])
                   ["last_reported"] >= 1656457211 - 600)


# --- storing and the CLI ---------------------------------------------------------------------


def test_bad_json_keeps_the_previous_snapshot(demo_gbfs: Path, runner: Runner,
                                              db_session: Session) -> None:
    assert runner.invoke("gbfs", "import", str(demo_gbfs), "--name", "m").exit_code == 0
    before = db_session.get(FeedSnapshot, ("gbfs", "m"))
    assert before is not None
    stamp = before.fetched_at
    (demo_gbfs / "station_status.json").write_text('{"data": {"stations": [', encoding="utf-8")
    result = runner.invoke("gbfs", "import", str(demo_gbfs), "--name", "m")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "station_status.json: invalid JSON at line 1" in lines[0]
    db_session.expire_all()
    after = db_session.get(FeedSnapshot, ("gbfs", "m"))
    assert after is not None
    assert after.fetched_at == stamp


def test_status_change_keeps_the_version_and_refreshes_the_snapshot(
        demo_gbfs: Path, db_session: Session) -> None:
    first = import_gbfs(db_session, str(demo_gbfs), "m", fixed_clock)
    path = demo_gbfs / "station_status.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["last_updated"] += 120
    document["data"]["stations"][0]["num_bikes_available"] = 0
    path.write_text(json.dumps(document), encoding="utf-8")
    later = lambda: FIXED_NOW + dt.timedelta(minutes=2)  # noqa: E731
    second = import_gbfs(db_session, str(demo_gbfs), "m", later)
    assert not second.created
    assert second.feed.id == first.feed.id
    snapshot = db_session.get(FeedSnapshot, ("gbfs", "m"))
    assert snapshot is not None
    assert snapshot.document["status"][document["data"]["stations"][0]["station_id"]][
        "bikes"] == 0
    assert snapshot.last_updated == dt.datetime.fromtimestamp(document["last_updated"], dt.UTC)


# --- live URLs -------------------------------------------------------------------------------


@pytest.fixture
def served(demo_gbfs: Path) -> Iterator[str]:
    """The demo snapshot over HTTP on 127.0.0.1 (gbfs.json discovery, relative URLs)."""
    handler = functools.partial(_QuietHandler, directory=str(demo_gbfs))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/gbfs.json"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _bump(folder: Path, station: int, bikes: int, seconds: int) -> None:
    path = folder / "station_status.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["last_updated"] += seconds
    document["data"]["stations"][station]["num_bikes_available"] = bikes
    path.write_text(json.dumps(document), encoding="utf-8")


def test_a_url_is_imported_then_polled_by_its_ttl(served: str, demo_gbfs: Path,
                                                  sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        result = import_gbfs(session, served, "live", fixed_clock, LOCAL)
        assert result.feed.source == served
    now = [FIXED_NOW]
    poller = GbfsPoller(sessions, "live", served, lambda: now[0], LOCAL)
    assert not poller.poll_once()  # fetched just now: within the ttl
    _bump(demo_gbfs, 0, 0, 61)
    now[0] += dt.timedelta(seconds=61)
    assert poller.poll_once()
    with sessions() as session:
        snapshot = session.get(FeedSnapshot, ("gbfs", "live"))
        assert snapshot is not None
        first_id = next(iter(snapshot.document["status"]))
        assert snapshot.document["status"][first_id]["bikes"] == 0
        kept = snapshot.last_updated
    (demo_gbfs / "station_status.json").write_text("{", encoding="utf-8")
    now[0] += dt.timedelta(seconds=61)
    assert not poller.poll_once()
    assert poller.last_error is not None
    assert "station_status.json" in poller.last_error
    with sessions() as session:
        snapshot = session.get(FeedSnapshot, ("gbfs", "live"))
        assert snapshot is not None
        assert snapshot.last_updated == kept


def test_reads_start_no_pollers_and_maas_worker_polls(
        served: str, demo_gbfs: Path, runner: Runner, db_session: Session) -> None:
    import_gbfs(db_session, served, "live", fixed_clock, FeedLimits(allow_private_urls=True))
    before = {thread.name for thread in threading.enumerate()}
    stations = runner.app.test_client().get("/api/v1/bikes/stations")
    assert stations.status_code == 200
    # a read starts no thread (one left over from an earlier test may have ended meanwhile)
    assert {thread.name for thread in threading.enumerate()} <= before
    # the fixed clock stands still: the snapshot is within its ttl, so the worker fetches
    # nothing, but it found the live feed and asked
    result = runner.invoke("worker", "--once", "--json")
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["gbfs"] == {"live": False}
    assert done["realtime"] == {}  # no realtime feed registered: nothing polled


def test_polling_runs_in_the_background(served: str, demo_gbfs: Path, tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'poll.sqlite3'}")
    upgrade(engine)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    path = demo_gbfs / "station_status.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["ttl"] = 0  # poll as fast as allowed
    path.write_text(json.dumps(document), encoding="utf-8")
    clock = lambda: dt.datetime.now(dt.UTC)  # noqa: E731
    with sessions() as session:
        import_gbfs(session, served, "live", clock, LOCAL)
    poller = GbfsPoller(sessions, "live", served, clock, LOCAL)
    poller.MIN_INTERVAL = 0
    _bump(demo_gbfs, 0, 0, 30)
    poller.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with sessions() as session:
                snapshot = session.get(FeedSnapshot, ("gbfs", "live"))
                assert snapshot is not None
                if snapshot.last_updated == dt.datetime.fromtimestamp(
                        document["last_updated"] + 30, dt.UTC):
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("the poller did not pick up the new status")
    finally:
        poller.stop()
        engine.dispose()


def test_an_unreachable_url_is_one_clear_line(runner: Runner) -> None:
    result = runner.invoke("gbfs", "import", "http://127.0.0.1:9/gbfs.json")
    assert result.exit_code == 1
    assert "http://127.0.0.1:9/gbfs.json: download failed" in result.stderr
    assert "Traceback" not in result.output


# --- prices ----------------------------------------------------------------------------------


def test_machinori_prices() -> None:
    assert gbfs.ride_price(PLAN, 60) == 165
    assert gbfs.ride_price(PLAN, 30 * 60) == 165
    assert gbfs.ride_price(PLAN, 30 * 60 + 1) == 330
    assert gbfs.ride_price(PLAN, 90 * 60) == 495
    assert gbfs.ride_price(PLAN, 24 * 3600) == 2200


@given(st.integers(0, 48 * 3600), st.integers(0, 48 * 3600))
def test_prices_are_monotone_and_capped(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert 165 <= gbfs.ride_price(PLAN, low) <= gbfs.ride_price(PLAN, high) <= 2200


@given(st.floats(0, 20_000))
def test_riding_is_faster_than_walking_and_slower_than_nothing(metres: float) -> None:
    from gtfs.timetable import walk_seconds

    assert 0 <= gbfs.ride_seconds(metres) <= walk_seconds(metres)


def test_a_gbfs_3_manifest_leads_to_its_first_system(served: str, demo_gbfs: Path,
                                                     db_session: Session) -> None:
    write(demo_gbfs, {"manifest.json": {
        "last_updated": "2026-12-01T06:00:00+09:00", "ttl": 3600, "version": "3.0",
        "data": {"datasets": [{"system_id": "machinori", "versions": [
            {"version": "2.3", "url": "gbfs.json"}]}]}}})
    manifest = served.replace("gbfs.json", "manifest.json")
    result = import_gbfs(db_session, manifest, None, fixed_clock, LOCAL)
    assert result.feed.name == "127.0.0.1"
    assert result.feed.summary["system_id"] == "machinori"
    assert result.feed.summary["stations"] == 18
    write(demo_gbfs, {"manifest.json": {"data": {"datasets": []}}})
    with pytest.raises(InvalidInput, match=r"data\.datasets\[0\]\.versions\[\]\.url"):
        import_gbfs(db_session, manifest, None, fixed_clock, LOCAL)
