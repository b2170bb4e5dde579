"""``maas bench load`` and ``maas bench metrics`` run for real (figures are never asserted,
only that the run is whole: no errors, no lost scans, every figure present)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import maas_executable

REDIS_URL = os.environ.get("MAAS_TEST_REDIS_URL", "redis://127.0.0.1:6379/8")


def maas(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([maas_executable(), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_load_refuses_what_it_cannot_run_on() -> None:
    done = maas("bench", "load", "--database-url", "sqlite:///x.sqlite3")
    assert done.returncode == 1
    assert "--database-url: give a PostgreSQL server URL" in done.stderr
    done = maas("bench", "load", "--database-url", "postgresql://u@h/db", "--redis-url",
                "memory://")
    assert done.returncode == 1
    assert "--redis-url: give a Redis URL" in done.stderr
    done = maas("bench", "load", "--database-url", "postgresql://u@h/db", "--duration", "0")
    assert done.returncode == 2
    assert "--duration" in done.stderr


@pytest.mark.server
@pytest.mark.skipif(not os.environ.get("MAAS_TEST_DATABASE_URL"),
                    reason="bench load runs on PostgreSQL: set MAAS_TEST_DATABASE_URL")
def test_load_against_two_instances_loses_no_scan() -> None:
    done = maas("bench", "load", "--database-url", os.environ["MAAS_TEST_DATABASE_URL"],
                "--redis-url", REDIS_URL, "--duration", "3", "--riders", "2",
                "--validators", "2", "--instances", "2", "--workers", "1", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    (run,) = document["runs"]
    assert run["instances"] == 2
    assert run["errors"] == 0, run
    assert run["scans_accepted"] > 0
    assert run["lost_scans"] == 0
    assert run["scans_stored"] == run["scans_accepted"]
    for kind in ("rider", "validator", "partner"):
        assert run["kinds"][kind]["requests"] > 0, kind
        assert run["kinds"][kind]["p99_ms"] >= run["kinds"][kind]["p50_ms"] > 0


def test_metrics_bench_times_request_updates_and_scrape() -> None:
    done = maas("bench", "metrics", "--requests", "20", "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert set(document) == {"requests", "request", "metrics", "scrape", "share_of_request"}
    for subject in ("request", "metrics", "scrape"):
        assert document[subject]["p99_ms"] >= document[subject]["p50_ms"] > 0
    assert document["share_of_request"] > 0
