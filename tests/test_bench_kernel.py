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


def test_journeys_saved_by_one_build_are_compared_with_another(demo_feed: Path,
                                                              tmp_path: Path) -> None:
    saved = tmp_path / "journeys.json"
    args = ["kernel", "--feed", str(demo_feed), "--date", DAY.isoformat(), "--queries", "30",
            "--seed", "4", "--no-ferrobus", "--json"]
    result = CliRunner().invoke(bench, [*args, "--save", str(saved)])
    assert result.exit_code == 0, result.output
    assert [row["engine"] for row in json.loads(result.stdout)["rows"]] == ["ours raptor.run"]
    document = json.loads(saved.read_text())
    assert len(document["queries"]) == len(document["journeys"]) == 31
    assert sum(bool(found) for found in document["journeys"]) >= 20  # most pairs connect
    same = CliRunner().invoke(bench, [*args, "--against", str(saved)])
    assert same.exit_code == 0, same.output
    against = json.loads(same.stdout)["against"]
    assert (against["queries"], against["differing"], against["examples"]) == (31, 0, [])

    # another build: one query's journey arrives a minute later, another's boards elsewhere
    first = next(i for i, found in enumerate(document["journeys"]) if found)
    second = next(i for i, found in enumerate(document["journeys"]) if found and i > first)
    document["journeys"][first][0][-1][2] += 60
    document["journeys"][second][0][0][6] += 1
    saved.write_text(json.dumps(document))
    other = CliRunner().invoke(bench, [*args, "--against", str(saved)])
    against = json.loads(other.stdout)["against"]
    assert (against["differing"], against["differing_arrivals"]) == (2, 1)
    assert [e["query"] for e in against["examples"]] == [first, second]
    text = CliRunner().invoke(bench, [*args[:-1], "--against", str(saved)])
    assert "2 of 31 queries with other journeys (1 with other arrivals or trips)" in text.output

    saved.write_text("{}")
    broken = CliRunner().invoke(bench, [*args, "--against", str(saved)])
    assert broken.exit_code == 1
    assert "not a file --save wrote" in broken.output
