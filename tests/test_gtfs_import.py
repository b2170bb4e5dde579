"""`maas gtfs import`: real feeds, clear errors, atomic switch-over, feeds routed together."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from flask.testing import FlaskClient

from maas.demo.kanazawa import write_demo
from tests.conftest import FIXED_NOW, SHARED_DATA, Runner

KUMAGAYA = SHARED_DATA / "kumagaya-yuyubus-2024" / "kumagaya_yuyubus_gtfs_jp_20240401.zip"


def test_import_a_real_feed_prints_its_summary(runner: Runner, client: FlaskClient) -> None:
    result = runner.invoke("gtfs", "import", str(KUMAGAYA), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["name"] == "kumagaya_yuyubus_gtfs_jp_20240401"
    assert summary["new"] is True
    assert (summary["stops"], summary["trips"], summary["stop_times"]) == (395, 120, 2998)
    assert summary["service_start"] == "2024-04-01"
    assert summary["service_end"] == "2025-03-31"
    again = runner.invoke("gtfs", "import", str(KUMAGAYA), "--json")
    assert json.loads(again.stdout)["new"] is False
    health = client.get("/api/v1/health").get_json()
    assert [f["name"] for f in health["feeds"] if f["kind"] == "gtfs"] == [summary["name"]]


def test_broken_feed_is_refused_and_the_old_one_keeps_serving(
    runner: Runner, client: FlaskClient, tmp_path: Path
) -> None:
    parts = write_demo(tmp_path / "demo", FIXED_NOW.date())
    assert runner.invoke("gtfs", "import", str(parts["gtfs"]), "--name", "k").exit_code == 0
    broken = tmp_path / "broken"
    shutil.copytree(parts["gtfs"], broken)
    lines = (broken / "stop_times.txt").read_text(encoding="utf-8").splitlines()
    fields = lines[5].split(",")
    fields[1] = "8:6x:00"
    lines[5] = ",".join(fields)
    (broken / "stop_times.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke("gtfs", "import", str(broken), "--name", "k")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: stop_times.txt line 6 column arrival_time: '8:6x:00'")
    assert len(result.stderr.strip().splitlines()) == 1
    plan = client.get("/api/v1/plan", query_string={
        "from": "stop:kanazawa-sta-east", "to": "stop:katamachi",
        "depart": "2026-12-01T09:00:00+09:00"})
    assert plan.status_code == 200
    assert plan.get_json()["itineraries"]


def test_missing_file_and_bad_url(runner: Runner, tmp_path: Path) -> None:
    result = runner.invoke("gtfs", "import", str(tmp_path / "nothing.zip"))
    assert result.exit_code == 1
    assert "nothing.zip: no such file or folder" in result.stderr
    result = runner.invoke("gtfs", "import", "ftp://example.org/feed.zip")
    assert result.exit_code == 1
    assert "only paths and http(s) URLs" in result.stderr


def test_two_feeds_are_routed_together(runner: Runner, client: FlaskClient,
                                       tmp_path: Path) -> None:
    parts = write_demo(tmp_path / "demo", FIXED_NOW.date())
    assert runner.invoke("gtfs", "import", str(parts["gtfs"]), "--name", "kanazawa").exit_code == 0
    # a second operator's feed: one line from a stop 150 m from 金沢駅東口 to 金沢港
    other = tmp_path / "port-shuttle"
    other.mkdir()
    files = {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
                      "port,港シャトル,https://example.org,Asia/Tokyo\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n"
                     "P1,金沢駅東口(シャトル),36.5784,136.6504\n"
                     "P2,金沢港クルーズターミナル,36.6077,136.6151\n",
        "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\n"
                      "S,port,S,港シャトル,3\n",
        "trips.txt": "route_id,service_id,trip_id\nS,daily,S1\n",
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                          "S1,09:30:00,09:30:00,P1,1\nS1,09:55:00,09:55:00,P2,2\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                        "start_date,end_date\ndaily,1,1,1,1,1,1,1,20260101,20271231\n",
    }
    for name, text in files.items():
        (other / name).write_text(text, encoding="utf-8")
    assert runner.invoke("gtfs", "import", str(other)).exit_code == 0
    body = client.get("/api/v1/plan", query_string={
        "from": "stop:katamachi", "to": "stop:P2",
        "depart": "2026-12-01T09:00:00+09:00"}).get_json()
    legs = body["itineraries"][0]["legs"]
    assert [leg["mode"] for leg in legs] == ["bus", "walk", "bus"]
    assert legs[0]["agency_id"] == "hokutetsu"
    assert legs[1]["to"]["stop_id"] == "P1"
    assert legs[2]["trip_id"] == "S1"
    operators = {o["id"] for o in client.get("/api/v1/operators").get_json()}
    assert {"hokutetsu", "port"} <= operators
