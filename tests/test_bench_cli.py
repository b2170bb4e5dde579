"""``maas bench cli`` (start-up times) and the benchmarks' lazy loading.

Speed itself is the benchmarks' business: nothing here asserts a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import maas_executable


def test_bench_cli_reports_each_start_up_beside_the_floor() -> None:
    done = subprocess.run([maas_executable(), "bench", "cli", "--runs", "2", "--json"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["runs"] == 2
    assert set(document["commands"]) == {"python_floor", "maas_help", "validator_help",
                                         "validator_check"}
    targets = {"python_floor": None, "maas_help": 1000.0, "validator_help": 500.0,
               "validator_check": 500.0}
    for name, row in document["commands"].items():
        assert set(row) == {"command", "p50_ms", "max_ms", "above_floor_p50_ms", "target_ms",
                            "within_target"}, name
        for figure in ("p50_ms", "max_ms"):
            assert isinstance(row[figure], float), (name, figure)
            assert row[figure] > 0, (name, figure)
        assert row["max_ms"] >= row["p50_ms"]
        assert row["target_ms"] == targets[name]
        assert isinstance(row["within_target"], bool) == (targets[name] is not None)
    assert "(accept)" in document["commands"]["validator_check"]["command"]


def test_bench_cli_refuses_a_folder_without_the_scripts(tmp_path: Path) -> None:
    done = subprocess.run([maas_executable(), "bench", "cli", "--bin", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr == f"Error: --bin: {tmp_path} has no python\n"


@pytest.mark.parametrize(("argv", "unloaded"), [
    (["--help"], ("maas.bench",)),
    (["bench", "--help"], ("maas.bench.plan", "maas.bench.validators", "numba", "flask")),
    (["bench", "cli", "--help"], ("maas.bench.plan", "numba", "flask", "sqlalchemy")),
])
def test_benchmarks_load_only_when_they_run(argv: list[str], unloaded: tuple[str, ...]) -> None:
    script = (
        "import sys\n"
        "from maas.cli import cli\n"
        f"cli.main({argv!r}, prog_name='maas', standalone_mode=False)\n"
        f"print(sorted(m for m in {unloaded!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
