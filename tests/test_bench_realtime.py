"""``maas bench realtime`` on the demo feed: the synthetic feed, the apply and the plans."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner

from maas.bench import bench
from maas.demo.kanazawa import write_demo


def test_the_command_applies_the_updates_and_times_both_sides(tmp_path: Path) -> None:
    feed = write_demo(tmp_path, dt.date(2026, 12, 1))["gtfs"]
    result = CliRunner().invoke(bench, ["realtime", "--feed", str(feed), "--date", "2026-12-01",
                                        "--updates", "400", "--queries", "5", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["stop_time_updates"] == 400
    assert document["matched"] == document["trip_updates"] > 0
    assert document["unmatched"] == 0
    assert document["queries"] == 5
    assert document["plan_p50_ms"] > 0
    assert document["plan_realtime_p50_ms"] > 0
    assert document["apply_ms"] > 0


def test_a_bad_date_is_one_line_and_exit_1(tmp_path: Path) -> None:
    feed = write_demo(tmp_path, dt.date(2026, 12, 1))["gtfs"]
    result = CliRunner().invoke(bench, ["realtime", "--feed", str(feed), "--date", "tomorrow"])
    assert result.exit_code == 1
    assert "--date" in result.output
