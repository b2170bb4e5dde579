"""``maas bench metrics``: what /metrics costs each request, beside the request itself.

Under ``PROMETHEUS_MULTIPROC_DIR`` (a temporary folder, as gunicorn's master gives workers),
this process times, in interleaved rounds:

- **request**: ``GET /api/v1/health`` through the whole WSGI app (in-process test client, a
  migrated scratch SQLite database) — the cheapest request there is, metrics included;
- **metrics**: the two updates :mod:`maas.metrics` makes per request (a histogram observation
  and a counter increment, each a labelled write to a memory-mapped file), alone;
- **scrape**: one ``GET /metrics`` (every file read and summed, plus the database gauges).

p50 and p99 by :func:`maas.bench.timing.percentiles`; ``share_of_request`` is the metrics
p50 over the request p50.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click

from maas.bench.timing import percentiles, timed
from maas.core.cli import emit, json_option

TOKEN = "bench-metrics-token-0123456789abcdef"  # noqa: S105 - a scratch app's token


def run_metrics_bench(requests: int) -> dict[str, Any]:
    """Time the three subjects ``requests`` times each (after 20 untimed warm-up rounds)."""
    with tempfile.TemporaryDirectory(prefix="maas-bench-metrics-") as scratch:
        folder = Path(scratch)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder / "prometheus")
        from maas.app import create_app
        from maas.core.db import upgrade
        from maas.metrics import instruments

        app = create_app({"env": "development", "home": folder, "metrics_token": TOKEN,
                          "database_url": f"sqlite:///{folder / 'bench.sqlite3'}",
                          "log_level": "warning"})
        upgrade(app.extensions["maas"].engine)
        client = app.test_client()
        meter = instruments()

        def request() -> None:
            client.get("/api/v1/health").close()

        def update() -> None:
            meter.request_seconds.labels("/api/v1/health", "GET").observe(0.001)
            meter.requests.labels("/api/v1/health", "GET", "200").inc()

        def scrape() -> None:
            client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).close()

        subjects = {"request": request, "metrics": update, "scrape": scrape}
        times: dict[str, list[float]] = {name: [] for name in subjects}
        for round_ in range(requests + 20):
            for name, subject in subjects.items():
                elapsed, _ = timed(subject)
                if round_ >= 20:
                    times[name].append(elapsed)
        app.extensions["maas"].engine.dispose()
    figures = {name: dict(zip(("p50_ms", "p99_ms"), percentiles(values, 50, 99, digits=4),
                              strict=True)) for name, values in times.items()}
    share = figures["metrics"]["p50_ms"] / figures["request"]["p50_ms"]
    return {"requests": requests, **figures, "share_of_request": round(share, 4)}


@click.command("metrics")
@click.option("--requests", type=click.IntRange(10, 100_000), default=2000, show_default=True,
              help="Timed rounds (each: a request, the metric updates, a scrape).")
@json_option
def bench_metrics(requests: int, as_json: bool) -> None:
    """What /metrics costs a request (two updates), beside GET /health in-process."""
    document = run_metrics_bench(requests)
    emit(as_json, document, "\n".join(
        f"{name:>8}  p50 {row['p50_ms']:.4f} ms  p99 {row['p99_ms']:.4f} ms"
        for name, row in document.items() if isinstance(row, dict))
        + f"\nmetrics / request (p50): {document['share_of_request']:.1%}")
