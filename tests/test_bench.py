"""``maas bench plan``: our planner and pynigiri on the same queries of the demo feed."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

# pynigiri comes with the `bench` extra, which scripts/test installs: a missing peer fails
# this module loudly instead of skipping it
import pynigiri  # noqa: F401
import pytest
from click.testing import CliRunner

from maas.bench import bench
from maas.bench.plan import run_bench
from maas.core.errors import InvalidInput
from maas.demo.kanazawa import write_demo

DAY = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def demo_feed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled demo GTFS feed, written for 2026-12-01."""
    parts = write_demo(tmp_path_factory.mktemp("demo"), DAY)
    return parts["gtfs"]


def test_both_engines_answer_the_same_queries_alike(demo_feed: Path) -> None:
    document = run_bench(demo_feed, DAY, queries=20, seed=1).as_dict()
    assert document["queries"] == 20
    for field in ("ours_p50_ms", "ours_p90_ms", "ours_kernel_p50_ms", "pynigiri_p50_ms",
                  "pynigiri_p90_ms", "ratio", "ours_load_seconds", "pynigiri_load_seconds",
                  "request_p50_ms", "wsgi_p50_ms", "pynigiri_document_p50_ms",
                  "request_ratio", "wsgi_ratio"):
        assert document[field] > 0, field
    # the request path is the planner and more; the peer's document is its route() and more
    assert document["request_p50_ms"] > document["ours_kernel_p50_ms"]
    # the kernel beside ferrobus's on the same pairs (maas.bench.kernel; ferrobus is in the
    # bench extra, so an error row would fail here)
    ours_kernel, ferrobus = document["kernel"]
    assert (ours_kernel["engine"], ferrobus["engine"]) == ("ours raptor.run",
                                                           "ferrobus find_route")
    assert "error" not in ferrobus, ferrobus
    assert ours_kernel["queries"] == ferrobus["queries"] == 20
    assert document["request_ratio"] == pytest.approx(
        document["request_p50_ms"] / document["pynigiri_document_p50_ms"], rel=0.01)
    assert document["ours_p90_ms"] >= document["ours_p50_ms"]
    assert document["pynigiri_p90_ms"] >= document["pynigiri_p50_ms"]
    assert document["ratio"] == pytest.approx(
        document["ours_p50_ms"] / document["pynigiri_p50_ms"], rel=0.01)
    assert (document["feed"], document["date"], document["seed"]) == (
        str(demo_feed), "2026-12-01", 1)
    # Both answer every demo query (the day has service from every stop drawn) ...
    assert document["only_ours"] == document["only_pynigiri"] == 0
    # ... and nearly always with the same earliest arrival; the rest differ where the footpath
    # models differ (see maas.bench.plan), which the examples show leg by leg.
    assert document["agree"] >= 18, json.dumps(document["disagree"], ensure_ascii=False,
                                               indent=1)
    assert document["disagree_count"] == 20 - document["agree"]
    # Where we arrive earlier, it is only by walking twice after the last trip (a footpath,
    # then the walk to the destination), which nigiri's footpath model does not allow.
    assert document["ours_earlier"] == document["ours_earlier_end_walks"]
    assert len(document["disagree"]) == min(document["disagree_count"], 5)
    for example in document["disagree"]:
        assert example["ours_journey"]
        assert example["pynigiri_journey"]


def test_each_side_answers_a_block_in_turn_and_the_alternating_paths_are_timed_too(
        demo_feed: Path) -> None:
    blocked = run_bench(demo_feed, DAY, queries=7, seed=3, block=3, with_ferrobus=False)
    alternating = run_bench(demo_feed, DAY, queries=7, seed=3, block=1, with_ferrobus=False)
    for result in (blocked, alternating):
        # blocks of 3, 3 and 1: every query timed once on every side, in the main pass and
        # again query by query for the request paths
        for timings in (result.ours_ms, result.ours_kernel_ms, result.pynigiri_ms,
                        result.request_ms, result.wsgi_ms, result.pynigiri_document_ms,
                        result.request_alternating_ms,
                        result.pynigiri_document_alternating_ms):
            assert len(timings) == 7
            assert all(ms > 0 for ms in timings)
    document = blocked.as_dict()
    assert document["block"] == 3
    assert alternating.as_dict()["block"] == 1
    assert document["request_ratio_alternating"] == pytest.approx(
        document["request_alternating_p50_ms"]
        / document["pynigiri_document_alternating_p50_ms"], rel=0.01)
    # the order of the timings changes no answer
    keys = ("agree", "ours_earlier", "pynigiri_earlier", "only_ours", "only_pynigiri",
            "disagree")
    assert [document[k] for k in keys] == [alternating.as_dict()[k] for k in keys]
    with pytest.raises(InvalidInput, match="--block"):
        run_bench(demo_feed, DAY, queries=2, seed=3, block=0, with_ferrobus=False)


def test_the_same_seed_draws_the_same_queries(demo_feed: Path) -> None:
    first = run_bench(demo_feed, DAY, queries=5, seed=7).as_dict()
    second = run_bench(demo_feed, DAY, queries=5, seed=7).as_dict()
    keys = ("agree", "ours_earlier", "pynigiri_earlier", "disagree")
    assert [first[k] for k in keys] == [second[k] for k in keys]


def test_the_command_prints_json(demo_feed: Path) -> None:
    result = CliRunner().invoke(bench, ["plan", "--feed", str(demo_feed), "--date",
                                        "2026-12-01", "--queries", "10", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["queries"] == 10
    assert document["ours_p50_ms"] > 0
    assert document["pynigiri_p50_ms"] > 0
    assert result.stderr == ""


def test_the_command_prints_a_table(demo_feed: Path) -> None:
    result = CliRunner().invoke(bench, ["plan", "--feed", str(demo_feed), "--date",
                                        "2026-12-01", "--queries", "3"])
    assert result.exit_code == 0, result.output
    assert "pynigiri route()" in result.stdout
    assert "ratio ours/pynigiri" in result.stdout
    assert "ours request (no socket)" in result.stdout
    assert "pynigiri route + document" in result.stdout
    assert "each side answers 10 in turn" in result.stdout
    assert "query by query alternating: request" in result.stdout


@pytest.mark.parametrize(("arguments", "message"), [
    (["--date", "2026-13-01"], "--date: '2026-13-01' is not a date (YYYY-MM-DD)"),
    (["--date", "2030-01-01"], "--date: no trips run on 2030-01-01"),
])
def test_a_bad_date_is_one_line_and_exit_1(demo_feed: Path, arguments: list[str],
                                           message: str) -> None:
    result = CliRunner().invoke(bench, ["plan", "--feed", str(demo_feed), *arguments])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert message in result.stderr


def test_a_missing_feed_is_one_line_and_exit_1(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = CliRunner().invoke(bench, ["plan", "--feed", str(missing), "--date",
                                        "2026-12-01", "--json"])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {missing}: no such file or folder\n"
    assert result.stdout == ""


def test_http_bench_serves_ours_and_the_floor_through_gunicorn(demo_feed: Path) -> None:
    result = CliRunner().invoke(bench, ["http", "--feed", str(demo_feed), "--date",
                                        "2026-12-01", "--queries", "10", "--seconds", "1",
                                        "--connections", "1,2", "--worker-class", "linger",
                                        "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["queries"] == 10
    assert document["inprocess_p50_ms"] > 0
    ours, floor = document["servers"]
    assert (ours["server"], floor["server"]) == ("ours linger×8", "floor linger×8")
    for server in (ours, floor):
        assert server["plan_p90_ms"] >= server["plan_p50_ms"] > 0
        assert server["first_plan_ms"] > 0
        assert set(server["plan_rps"]) == {"1", "2"}
        assert all(rps > 0 for rps in server["plan_rps"].values())
        assert len(server["worker_private_mb"]) == 2  # two workers, each measured
        assert all(mb > 0 for mb in server["worker_private_mb"])
    assert all(rps > 0 for rps in ours["health_rps"].values())
    assert floor["health_rps"] == {}
    ratio = document["plan_over_floor"]["ours linger×8"]["2"]
    assert ratio == pytest.approx(ours["plan_rps"]["2"] / floor["plan_rps"]["2"], abs=0.001)


# a stand-in for a gunicorn master: forks two "workers" one after the other, each saying
# READY some time after it started
FAKE_MASTER = """
import subprocess, sys, time
log = open(sys.argv[1], "a", buffering=1)
def worker():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
first = worker()
log.write(f"READY worker {first.pid}\\n")
time.sleep(0.3)
second = worker()
time.sleep(0.3)
log.write(f"READY worker {second.pid}\\n")
log.write("both\\n")
time.sleep(120)
"""


def test_http_bench_waits_for_every_workers_ready_line(tmp_path: Path) -> None:
    from maas.bench.http import _wait_workers_ready
    from maas.core.errors import MaasError

    log = tmp_path / "server.log"
    log.write_text("")
    master = subprocess.Popen([sys.executable, "-c", FAKE_MASTER, str(log)],
                              start_new_session=True)
    try:
        # neither one worker ready nor two workers with one ready is enough
        _wait_workers_ready(master, log, 2)
        assert log.read_text().splitlines()[-1] == "both"
    finally:
        os.killpg(master.pid, signal.SIGKILL)  # the stand-in and its two workers
        master.wait()
    with pytest.raises(MaasError, match="exited"):
        _wait_workers_ready(master, log, 3)


def test_http_bench_refuses_unknown_worker_classes(demo_feed: Path) -> None:
    result = CliRunner().invoke(bench, ["http", "--feed", str(demo_feed), "--date",
                                        "2026-12-01", "--worker-class", "gevent"])
    assert result.exit_code == 1
    assert "--worker-class: use linger, gthread, sync, not gevent" in result.stderr
