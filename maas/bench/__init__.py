"""``maas bench …``: benchmarks, each timing what a user gets beside a peer or a floor.

All benchmark code lives in this package, in the shell layer (it may import every domain):

- :mod:`maas.bench.plan` — ``bench plan``: our planner beside pynigiri on the same queries;
- :mod:`maas.bench.kernel` — ``bench kernel``: our RAPTOR kernel beside ferrobus, same pairs;
- :mod:`maas.bench.http` — ``bench http``: what GET /api/v1/plan adds under gunicorn;
- :mod:`maas.bench.passes` — ``bench passes``: signing rate and QR render times;
- :mod:`maas.bench.validators` — ``bench validators``: verification and scan ingestion;
- :mod:`maas.bench.stats` — ``bench stats``: the partner statistics endpoints;
- :mod:`maas.bench.realtime` — ``bench realtime``: applying trip updates; plans with and without;
- :mod:`maas.bench.fuzz` — ``bench fuzz-codes``: mutated genuine codes the verifier must refuse;
- :mod:`maas.bench.load` — ``bench load``: a city's mix against 1 and 2 app instances;
- :mod:`maas.bench.metrics` — ``bench metrics``: the metric updates beside a whole request;
- :mod:`maas.bench.places` — ``bench places``: the place search beside a scan and FTS5;
- :mod:`maas.bench.startup` — ``bench cli``: start-up of ``maas`` and ``maas-validator``;
- :mod:`maas.bench.timing` — the one timer and the one percentile definition they all use;
- :mod:`maas.bench.fixtures` — signed material (keys, trust bundle, a validator home).

Each command's module is imported only when that command runs, so ``maas bench cli`` loads
neither numba nor flask, and ``maas bench --help`` loads no benchmark.
"""

from __future__ import annotations

import click

from maas.core.cli import MaasGroup

COMMANDS = {
    "plan": ("maas.bench.plan:plan_command",
             "Time our planner and pynigiri on the same random stop-to-stop queries of one "
             "day."),
    "kernel": ("maas.bench.kernel:kernel_command",
               "Our RAPTOR kernel alone beside ferrobus's query alone, on the same random "
               "pairs."),
    "http": ("maas.bench.http:http_command",
             "What GET /api/v1/plan adds over the in-process query, under gunicorn on "
             "loopback."),
    "passes": ("maas.bench.passes:bench_passes",
               "Credentials signed per second and QR render times (rotating code, worst "
               "case)."),
    "validators": ("maas.bench.validators:bench_validators",
                   "Verification p50/p99 and ingestion scans/s on the configured database."),
    "stats": ("maas.bench.stats:bench_stats",
              "Time every statistics endpoint in-process (WSGI, auth, queries, JSON) on this "
              "database."),
    "fuzz-codes": ("maas.bench.fuzz:bench_fuzz_codes",
                   "Mutate genuine pass codes and count how many the verifier accepts (0)."),
    "logins": ("maas.bench.logins:bench_logins",
               "GET /products idle and during a burst of sign-ins, under gunicorn."),
    "load": ("maas.bench.load:bench_load",
             "Riders, validators and partners at once against 1 and 2 app instances on "
             "PostgreSQL and Redis."),
    "metrics": ("maas.bench.metrics:bench_metrics",
                "What /metrics costs a request (two updates), beside GET /health in-process."),
    "places": ("maas.bench.places:places_command",
               "The place search over 10,000 places (in process and GET /api/v1/places) "
               "beside a linear scan and SQLite FTS5."),
    "realtime": ("maas.bench.realtime:realtime_command",
                 "Apply 50,000 GTFS-Realtime stop-time updates; plans with them beside "
                 "without."),
    "cli": ("maas.bench.startup:bench_cli",
            "Start-up times of maas and maas-validator beside a bare Python."),
}


@click.group(cls=MaasGroup, lazy_commands=COMMANDS)
def bench() -> None:
    """Benchmarks (development)."""


__all__ = ["bench"]
