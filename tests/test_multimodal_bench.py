"""``maas bench plan --modes``: multimodal timings beside the transit-only ones."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner

from maas.bench import bench
from maas.demo.kanazawa import write_demo

DAY = dt.date(2026, 12, 1)


def test_bench_plan_with_modes_reports_multimodal_timings(tmp_path: Path) -> None:
    parts = write_demo(tmp_path / "demo", DAY)
    result = CliRunner().invoke(bench, ["plan", "--feed", str(parts["gtfs"]), "--date",
                                        DAY.isoformat(), "--queries", "4", "--modes",
                                        "walk,bus,bike,taxi", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["modes"] == "bike,bus,taxi,walk"
    for key in ("coordinate_p50_ms", "multimodal_p50_ms", "multimodal_p90_ms"):
        assert document[key] > 0
    assert document["multimodal_ratio"] == round(
        document["multimodal_p50_ms"] / document["ours_p50_ms"], 3)


def test_bench_plan_rejects_unknown_modes(tmp_path: Path) -> None:
    parts = write_demo(tmp_path / "demo", DAY)
    result = CliRunner().invoke(bench, ["plan", "--feed", str(parts["gtfs"]), "--date",
                                        DAY.isoformat(), "--modes", "walk,hovercraft"])
    assert result.exit_code == 1
    assert "modes: unknown mode(s) hovercraft" in result.output
