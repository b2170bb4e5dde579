"""``maas bench stats``: every partner statistics endpoint timed in-process on this database.

Each request goes through the WSGI app (authentication, queries, JSON or CSV) with Flask's test
client; the first of each endpoint warms caches and is not counted. p50 and p90 are
:func:`maas.bench.timing.percentiles`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging

import click

from maas.bench.timing import percentiles, timed
from maas.core.cli import emit, json_option
from maas.core.clistate import CliState, pass_state
from maas.core.clock import TOKYO
from maas.core.errors import MaasError
from maas.stats import services

BENCH_QUERIES: tuple[tuple[str, str], ...] = (
    ("sales", "/stats/sales?group=day"),
    ("sales_operator", "/stats/sales?group=product&operator=hokutetsu"),
    ("validations_day", "/stats/validations?group=day"),
    ("validations_hour_operator", "/stats/validations?group=hour&operator=hokutetsu"),
    ("validations_stop", "/stats/validations?group=stop"),
    ("validations_device", "/stats/validations?group=device"),
    ("apportionment", "/stats/apportionment"),
    ("fraud", "/stats/fraud?group=day"),
    ("planner", "/stats/planner?group=hour"),
    ("validations_csv", "/stats/validations?group=route&format=csv"),
)


@click.command("stats")
@click.option("--repeat", type=click.IntRange(1, 1000), default=15, show_default=True,
              help="Requests per endpoint.")
@click.option("--days", type=click.IntRange(1, 400), default=31, show_default=True,
              help="Period asked for: this many days up to yesterday.")
@json_option
@pass_state
def bench_stats(state: CliState, repeat: int, days: int, as_json: bool) -> None:
    """Time every statistics endpoint in-process (WSGI, auth, queries, JSON) on this database.

    Fill the database first, e.g. ``maas demo --no-serve --simulate-days 31``. A temporary
    administrator key is created for the run and removed afterwards.
    """
    logging.getLogger("maas.access").setLevel(logging.WARNING)  # one line per request: noise
    runtime = state.runtime()
    with state.session() as session:
        created = services.add_partner(session, "bench", None, runtime.clock)
    yesterday = runtime.clock().astimezone(TOKYO).date() - dt.timedelta(days=1)
    period = f"from={yesterday - dt.timedelta(days=days - 1)}&to={yesterday}"
    client = state.app().test_client()
    headers = {"Authorization": f"Bearer {created.api_key}"}
    results: dict[str, dict[str, float]] = {}
    try:
        for name, path in BENCH_QUERIES:
            url = f"/api/v1{path}{'&' if '?' in path else '?'}{period}"
            timings = []
            for _ in range(repeat + 1):  # the first warms caches and is not counted
                elapsed, response = timed(functools.partial(client.get, url, headers=headers))
                timings.append(elapsed)
                if response.status_code != 200:
                    raise MaasError(f"{url}: HTTP {response.status_code} {response.text[:200]}")
            p50, p90 = percentiles(timings[1:], 50, 90, digits=1)
            results[name] = {"p50_ms": p50, "p90_ms": p90, "bytes": len(response.data)}
    finally:
        with state.session() as session:
            services.delete_partner(session, created.partner.id)
    with state.session() as session:
        sizes = services.table_sizes(session)
    document = {"database": runtime.engine.dialect.name, "period": period, "repeat": repeat,
                **sizes, "endpoints": results}
    emit(as_json, document, "\n".join(
        [f"{runtime.engine.dialect.name}: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()),
         f"period {period}, {repeat} requests each"]
        + [f"  {name:<28} p50 {r['p50_ms']:>7.1f} ms  p90 {r['p90_ms']:>7.1f} ms"
           for name, r in results.items()]))
