"""``maas bench …``: benchmark commands, each timing what a user gets beside a peer."""

from __future__ import annotations

from gtfs.bench import bench
from maas.accounts.bench import bench_logins
from maas.stats.cli import bench_stats
from passes.cli import bench_passes
from validators.bench import bench_validators

bench.add_command(bench_logins)
bench.add_command(bench_passes)
bench.add_command(bench_stats)
bench.add_command(bench_validators)

__all__ = ["bench"]
