"""``maas bench cli``: how long ``maas`` and ``maas-validator`` take to start, beside Python's.

Every run is a fresh interpreter: each command runs as a subprocess, and this process times it
from spawn to exit (:func:`maas.bench.timing.timed`) — what a person at a shell, or a validator
judging one code per process, waits for. ``python -c pass`` is the floor: starting the
interpreter, which no code of ours can make faster. The commands are interleaved (one run of
each, then the next round), after one untimed warm-up round that fills the OS file cache and
writes the ``.pyc`` files. Reported: p50 (:func:`maas.bench.timing.percentile`) and max.

The check is a real accept, without a server: a validator home is written in a temporary folder
(:func:`maas.bench.fixtures.enrolled_home`: a trust bundle with 2,000 revoked passes signed by a
pinned bundle key) and every run presents a new pass, bound to a phone and presented by it at
the time given with ``--at``, so the journal's replay check never turns a run into a reject.

Targets (issue 11): ``maas-validator --help`` and ``check`` within 0.5 s, ``maas --help``
within 1 s. ``--bin`` times the console scripts of another installation (an older checkout's
virtual environment, say) with this one's method and material.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from maas.bench.fixtures import NOON, enrolled_home, make_trust
from maas.bench.timing import percentile, timed
from maas.core.cli import emit, json_option
from maas.core.errors import InvalidInput, MaasError

VALIDATOR_TARGET_MS = 500.0
MAAS_TARGET_MS = 1000.0
TIMEOUT_S = 120


@dataclasses.dataclass(frozen=True)
class Subject:
    """One command timed: its name in the document, how it reads, its target."""

    name: str
    command: str
    argv: Callable[[int], list[str]]  # the arguments of run ``i`` (0 is the warm-up)
    target_ms: float | None


def subjects(bin_dir: Path, python: str, home: Path, payloads: list[str]) -> list[Subject]:
    """The floor and the three start-ups of issue 11, in the order they are run."""
    maas, validator = str(bin_dir / "maas"), str(bin_dir / "maas-validator")
    check = [validator, "--home", str(home), "check"]
    return [
        Subject("python_floor", "python -c pass", lambda _: [python, "-c", "pass"], None),
        Subject("maas_help", "maas --help", lambda _: [maas, "--help"], MAAS_TARGET_MS),
        Subject("validator_help", "maas-validator --help", lambda _: [validator, "--help"],
                VALIDATOR_TARGET_MS),
        Subject("validator_check", "maas-validator --home HOME check PAYLOAD --at T (accept)",
                lambda i: [*check, payloads[i], "--at", NOON.isoformat()],
                VALIDATOR_TARGET_MS),
    ]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False,  # noqa: S603 - our own scripts
                          timeout=TIMEOUT_S, env=os.environ.copy())


def run_startup_bench(runs: int, bin_dir: Path | None = None) -> dict[str, Any]:
    """Time every subject ``runs`` times (plus a warm-up); the ``bench cli --json`` document."""
    if runs < 1:
        raise InvalidInput("--runs: give at least 1")
    python = sys.executable if bin_dir is None else str(bin_dir / "python")
    bin_dir = bin_dir or Path(sys.executable).parent
    for script in (Path(python), bin_dir / "maas", bin_dir / "maas-validator"):
        if not script.is_file():
            raise InvalidInput(f"--bin: {bin_dir} has no {script.name}")
    material = make_trust()
    payloads = [material.presentation(NOON) for _ in range(runs + 1)]
    timings: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="maas-bench-cli-") as scratch:
        home = enrolled_home(Path(scratch) / "validator", material)
        chosen = subjects(bin_dir, python, home, payloads)
        for run in range(runs + 1):
            for subject in chosen:
                elapsed, done = timed(functools.partial(_run, subject.argv(run)))
                if done.returncode != 0:
                    said = (done.stderr.strip() or done.stdout.strip()).splitlines()
                    raise MaasError(f"{subject.command}: exit {done.returncode}"
                                    f"{': ' + said[-1] if said else ''}")
                if run > 0:
                    timings.setdefault(subject.name, []).append(elapsed)
    floor = percentile(timings["python_floor"], 50)
    commands = {}
    for subject in chosen:
        values = timings[subject.name]
        p50 = percentile(values, 50)
        commands[subject.name] = {
            "command": subject.command,
            "p50_ms": round(p50, 1),
            "max_ms": round(max(values), 1),
            "above_floor_p50_ms": round(p50 - floor, 1),
            "target_ms": subject.target_ms,
            "within_target": None if subject.target_ms is None else p50 <= subject.target_ms,
        }
    return {"runs": runs, "python": platform.python_version(), "bin": str(bin_dir),
            "commands": commands}


def _table(document: dict[str, Any]) -> str:
    lines = [f"start-up, {document['runs']} runs each, a fresh interpreter per run "
             f"(Python {document['python']}, {document['bin']})",
             f"{'':58}{'p50 ms':>8}{'max ms':>8}  target (p50)"]
    for row in document["commands"].values():
        target = "-" if row["target_ms"] is None else (
            f"≤ {row['target_ms']:.0f} ms {'met' if row['within_target'] else 'MISSED'}")
        lines.append(f"{row['command']:58}{row['p50_ms']:>8.1f}{row['max_ms']:>8.1f}  {target}")
    return "\n".join(lines)


@click.command("cli")
@click.option("--runs", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="Timed runs of each command (after one untimed warm-up run).")
@click.option("--bin", "bin_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder with the maas, maas-validator and python to time "
                   "(default: beside this interpreter).")
@json_option
def bench_cli(runs: int, bin_dir: Path | None, as_json: bool) -> None:
    """Start-up times of maas and maas-validator beside a bare Python."""
    document = run_startup_bench(runs, bin_dir)
    emit(as_json, document, _table(document))
