"""``maas bench places`` runs end to end on a small index and reports every column (speed itself
is the benchmark's business: nothing here asserts a time)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from maas.bench.places import places_command


def test_bench_places_reports_ours_beside_both_peers() -> None:
    result = CliRunner().invoke(places_command, ["--places", "300", "--queries", "20",
                                                 "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["places"] == 300
    assert summary["queries"] == 20
    for name in ("http", "index", "linear", "fts5"):
        assert summary[f"{name}_p50_ms"] > 0
        assert summary[f"{name}_p90_ms"] >= summary[f"{name}_p50_ms"]
    assert summary["fts5_quality_disagreements"] >= 0
