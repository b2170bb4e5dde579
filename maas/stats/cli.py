"""``maas partners``, ``maas stats`` and ``maas bench stats``: thin commands over the services."""

from __future__ import annotations

import statistics
import time

import click

from maas.core.cli import MaasGroup, emit, json_option
from maas.core.clistate import CliState, pass_state
from maas.core.clock import TOKYO, isoformat_tokyo
from maas.core.errors import MaasError
from maas.stats import services


@click.group(cls=MaasGroup)
def partners() -> None:
    """Consortium partners and their API keys."""


@partners.command("add")
@click.argument("name")
@click.option("--operator", "operator_id", help="The operator this partner sees in detail.")
@click.option("--admin", is_flag=True, help="The consortium administrator (sees everything).")
@json_option
@pass_state
def add_partner(state: CliState, name: str, operator_id: str | None, admin: bool,
                as_json: bool) -> None:
    """Create a partner; prints its API key (shown this once, stored hashed)."""
    if admin == (operator_id is not None):
        raise MaasError("give --operator OPERATOR_ID or --admin (one of them)")
    with state.session() as session:
        created = services.add_partner(session, name, operator_id, state.runtime().clock)
    document = {"partner_id": created.partner.id, "api_key": created.api_key,
                "role": created.partner.role, "operator": created.partner.operator_id}
    emit(as_json, document,
         f"partner {created.partner.id} ({created.partner.role}"
         f"{' ' + operator_id if operator_id else ''}): API key {created.api_key}")


@partners.command("revoke")
@click.argument("partner_id")
@json_option
@pass_state
def revoke_partner(state: CliState, partner_id: str, as_json: bool) -> None:
    """Stop a partner's API key working."""
    with state.session() as session:
        partner = services.revoke_partner(session, partner_id, state.runtime().clock)
    revoked = isoformat_tokyo(partner.revoked_at) if partner.revoked_at else None
    emit(as_json, {"partner_id": partner.id, "revoked_at": revoked},
         f"partner {partner.id} revoked at {revoked}")


@partners.command("list")
@json_option
@pass_state
def list_partners(state: CliState, as_json: bool) -> None:
    """Every partner (never their keys)."""
    with state.session() as session:
        rows = [{"partner_id": p.id, "name": p.name, "role": p.role, "operator": p.operator_id,
                 "created_at": isoformat_tokyo(p.created_at),
                 "revoked_at": isoformat_tokyo(p.revoked_at) if p.revoked_at else None}
                for p in services.list_partners(session)]
    emit(as_json, {"partners": rows}, "\n".join(
        f"{r['partner_id']}  {r['role']:<8} {r['operator'] or '-':<10} {r['name']}"
        f"{'  (revoked)' if r['revoked_at'] else ''}" for r in rows) or "no partners")


@click.group(cls=MaasGroup)
def stats() -> None:
    """Partner statistics upkeep."""


@stats.command("rebuild")
@json_option
@pass_state
def rebuild(state: CliState, as_json: bool) -> None:
    """Recompute the statistics roll-ups from the scans (after a restore or a bulk load)."""
    with state.session() as session:
        read = services.rebuild_rollups(session)
    emit(as_json, {"scans": read}, f"roll-ups rebuilt from {read} scans")


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
    import datetime as dt
    import logging

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
                started = time.perf_counter()
                response = client.get(url, headers=headers)
                timings.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise MaasError(f"{url}: HTTP {response.status_code} {response.text[:200]}")
            timings = sorted(timings[1:])
            results[name] = {"p50_ms": round(statistics.median(timings), 1),
                             "p90_ms": round(timings[int(0.9 * (len(timings) - 1))], 1),
                             "bytes": len(response.data)}
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
