"""``maas bench kernel``: our RAPTOR kernel and ferrobus on the same pairs of the demo feed."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

# ferrobus comes with the `bench` extra: a missing peer fails this module loudly
import ferrobus  # noqa: F401
import pytest
from click.testing import CliRunner

from gtfs.feed import read_feed
from gtfs.timetable import compile_feeds
from maas.bench import bench
from maas.bench.kernel import draw_pairs, kernel_rows
from maas.core.errors import InvalidInput
from maas.demo.kanazawa import write_demo

DAY = dt.date(2026, 12, 2)


@pytest.fixture(scope="module")
def demo_feed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled demo GTFS feed, written for 2026-12-01."""
    return write_demo(tmp_path_factory.mktemp("demo"), dt.date(2026, 12, 1))["gtfs"]


def test_both_kernels_are_timed_on_the_same_pairs(demo_feed: Path) -> None:
    timetable = compile_feeds([("demo", read_feed(demo_feed))])
    pairs, departures = draw_pairs(timetable, DAY, 11, seed=3)
    assert (pairs, departures) == draw_pairs(timetable, DAY, 11, seed=3)
    assert all(6 <= d.hour < 22 and d.date() == DAY for d in departures)
    ours, theirs = kernel_rows(demo_feed, pairs, departures, timetable=timetable)
    assert ours["engine"] == "ours raptor.run"
    assert theirs["engine"] == "ferrobus find_route"
    for row in (ours, theirs):
        assert row["queries"] == 10  # the first pair warms up
        assert 0 < row["p50_ms"] <= row["p90_ms"]
    assert theirs["version"] == "0.2.1"
    assert theirs["ratio"] == pytest.approx(ours["p50_ms"] / theirs["p50_ms"], abs=0.001)


def test_a_missing_ferrobus_is_reported_in_its_row(demo_feed: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ferrobus", None)  # what a missing package raises
    timetable = compile_feeds([("demo", read_feed(demo_feed))])
    pairs, departures = draw_pairs(timetable, DAY, 3, seed=1)
    ours, theirs = kernel_rows(demo_feed, pairs, departures, timetable=timetable)
    assert ours["p50_ms"] > 0
    assert theirs == {"engine": "ferrobus find_route",
                      "error": "ferrobus is not installed (pip install -e '.[bench]')"}


def test_pairs_must_share_one_service_date(demo_feed: Path) -> None:
    timetable = compile_feeds([("demo", read_feed(demo_feed))])
    pairs, departures = draw_pairs(timetable, DAY, 2, seed=1)
    departures[1] += dt.timedelta(days=1)
    with pytest.raises(InvalidInput, match="one service date"):
        kernel_rows(demo_feed, pairs, departures, timetable=timetable)


def test_the_command_prints_both_rows(demo_feed: Path) -> None:
    result = CliRunner().invoke(bench, ["kernel", "--feed", str(demo_feed), "--date",
                                        DAY.isoformat(), "--queries", "5", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [row["engine"] for row in document["rows"]] == ["ours raptor.run",
                                                           "ferrobus find_route"]
    bad = CliRunner().invoke(bench, ["kernel", "--feed", str(demo_feed), "--date", "soon"])
    assert bad.exit_code == 1
    assert "--date: 'soon' is not a date" in bad.output
