"""The append-only journal of answered plan requests: nothing lost, nothing counted twice."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gtfs.events import PlanAnswered
from maas.core.journal import Journal
from maas.stats.models import PlanRequest
from maas.stats.services import PlanRecorder, roll_up_plan_requests

WRITER = """
import os, signal, sys
from pathlib import Path
from maas.core.journal import Journal
journal = Journal(Path(sys.argv[1]), "plans")
for n in range(int(sys.argv[2])):
    journal.append({"n": n, "who": sys.argv[3]})
if sys.argv[4] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no flush, no atexit
"""


def _write(folder: Path, count: int, who: str, how: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(count), who, how])


def test_a_killed_writer_loses_no_line(tmp_path: Path) -> None:
    process = _write(tmp_path, 500, "a", "kill")
    assert process.wait(timeout=60) == -signal.SIGKILL
    seen: list[dict[str, Any]] = []
    assert Journal(tmp_path, "plans").drain(seen.extend) == 500
    assert sorted(record["n"] for record in seen) == list(range(500))
    assert len({record["entry"] for record in seen}) == 500
    assert list(tmp_path.iterdir()) == []  # drained files are deleted


def test_draining_while_processes_and_threads_write_takes_every_line_once(
    tmp_path: Path
) -> None:
    writers = [_write(tmp_path, 3000, who, "exit") for who in ("p1", "p2")]
    local = Journal(tmp_path, "plans")

    def threads_write(who: str) -> None:
        for n in range(1000):
            local.append({"n": n, "who": who})

    threads = [threading.Thread(target=threads_write, args=(f"t{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    seen: list[dict[str, Any]] = []
    drainer = Journal(tmp_path, "plans")
    while any(w.poll() is None for w in writers) or any(t.is_alive() for t in threads):
        drainer.drain(seen.extend)
    for thread in threads:
        thread.join()
    assert all(w.wait(timeout=60) == 0 for w in writers)
    drainer.drain(seen.extend)
    by_writer: dict[str, list[int]] = {}
    for record in seen:
        by_writer.setdefault(record["who"], []).append(record["n"])
    assert {who: sorted(ns) for who, ns in by_writer.items()} == {
        "p1": list(range(3000)), "p2": list(range(3000)),
        **{f"t{i}": list(range(1000)) for i in range(3)}}
    assert len({record["entry"] for record in seen}) == len(seen) == 9000


def test_a_child_process_writes_its_own_file_with_its_own_entries(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "plans")
    journal.append({"n": "parent"})
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's outcome is asserted by the parent
        try:
            journal.append({"n": "child"})
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert len(list(tmp_path.iterdir())) == 2
    seen: list[dict[str, Any]] = []
    journal.drain(seen.extend)
    assert sorted(record["n"] for record in seen) == ["child", "parent"]
    assert seen[0]["entry"].split(":")[0] != seen[1]["entry"].split(":")[0]


def test_a_failed_consumer_leaves_the_lines_for_the_next_drain(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "plans")
    for n in range(3):
        journal.append({"n": n})

    def broken(_records: list[dict[str, Any]]) -> None:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        journal.drain(broken)
    assert len(list(tmp_path.iterdir())) == 1
    journal.append({"n": 3})
    seen: list[dict[str, Any]] = []
    assert journal.drain(seen.extend) == 4
    assert sorted(record["n"] for record in seen) == [0, 1, 2, 3]
    journal.append({"n": 4})  # the writer notices its file was taken and starts another
    assert journal.drain(seen.extend) == 1
    assert seen[-1]["n"] == 4


def test_a_torn_line_is_skipped_and_the_rest_counts(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "plans")
    journal.append({"n": 1})
    (path,) = tmp_path.iterdir()
    with path.open("ab") as handle:
        handle.write(b'{"n": 2, "entr')  # a disk that filled up mid-line
    seen: list[dict[str, Any]] = []
    assert journal.drain(seen.extend) == 1
    assert [record["n"] for record in seen] == [1]


def _answered(hour: int) -> PlanAnswered:
    moment = dt.datetime(2026, 12, 1, hour, 5, tzinfo=dt.UTC)
    return PlanAnswered(moment, (36.578, 136.648), (36.562, 136.662), frozenset({"bus"}))


def test_a_recorder_stores_each_line_once_even_when_a_drain_dies_after_its_commit(
    tmp_path: Path, db_session: Session
) -> None:
    journal = Journal(tmp_path, "plans")
    recorder = PlanRecorder(journal, lambda: db_session, clock=lambda: 0.0)
    for hour in range(4):
        recorder.on_plan_answered(db_session, _answered(hour))
    assert db_session.scalar(select(func.count()).select_from(PlanRequest)) == 0
    (live,) = tmp_path.iterdir()
    kept = live.read_bytes()
    assert recorder.flush(db_session) == 4
    # as if the drainer had died before deleting its file: the same lines come again
    (tmp_path / live.name).write_bytes(kept)
    assert recorder.flush(db_session) == 4
    rows = db_session.scalars(select(PlanRequest)).all()
    assert len(rows) == 4
    assert sorted(row.hour for row in rows) == [9, 10, 11, 12]  # Asia/Tokyo
    assert roll_up_plan_requests(db_session, recorder) == 4
    assert roll_up_plan_requests(db_session, recorder) == 0


def test_a_recorder_flushes_when_due_in_its_own_session(
    tmp_path: Path, db_session: Session
) -> None:
    now = [0.0]
    recorder = PlanRecorder(Journal(tmp_path, "plans"), lambda: db_session, 2.0,
                            clock=lambda: now[0])
    recorder.on_plan_answered(db_session, _answered(1))
    assert db_session.scalar(select(func.count()).select_from(PlanRequest)) == 0
    now[0] = 2.5  # the interval later
    recorder.on_plan_answered(db_session, _answered(2))
    assert db_session.scalar(select(func.count()).select_from(PlanRequest)) == 2


def test_a_forked_worker_waits_an_interval_from_its_first_plan_before_flushing(
    tmp_path: Path, db_session: Session
) -> None:
    now = [0.0]
    recorder = PlanRecorder(Journal(tmp_path, "plans"), lambda: db_session, 2.0,
                            clock=lambda: now[0])
    recorder.after_fork()  # the master made it at start; a worker forked later
    now[0] = 600.0  # its first plan comes ten minutes after that: no flush
    recorder.on_plan_answered(db_session, _answered(1))
    assert db_session.scalar(select(func.count()).select_from(PlanRequest)) == 0
    now[0] = 601.9
    recorder.on_plan_answered(db_session, _answered(2))
    assert db_session.scalar(select(func.count()).select_from(PlanRequest)) == 0
    now[0] = 602.0  # one interval after its first plan
    recorder.on_plan_answered(db_session, _answered(3))
    assert db_session.scalar(select(func.count()).select_from(PlanRequest)) == 3


def test_without_a_writable_folder_each_request_is_stored_directly(
    tmp_path: Path, db_session: Session
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    recorder = PlanRecorder(Journal(blocked, "plans"), lambda: db_session)
    recorder.on_plan_answered(db_session, _answered(1))  # logged, never raised
    assert recorder.journal is None  # from now on straight to the database
    recorder.on_plan_answered(db_session, _answered(2))
    rows = db_session.scalars(select(PlanRequest).order_by(PlanRequest.id)).all()
    assert [(row.hour, row.entry, row.counted) for row in rows] == [
        (10, None, False), (11, None, False)]
