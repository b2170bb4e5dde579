"""``maas partners`` and ``maas stats``: thin commands over the services.

``maas bench stats`` lives with the other benchmarks, in :mod:`maas.bench.stats`.
"""

from __future__ import annotations

import click

from maas.core.cli import MaasGroup, emit, json_option
from maas.core.clistate import CliState, pass_state
from maas.core.clock import isoformat_tokyo
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
    with state.audited("partners.add", f"{name} ({operator_id or 'admin'})") as (session, detail):
        created = services.add_partner(session, name, operator_id, state.runtime().clock)
        detail["partner_id"] = created.partner.id
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
    with state.audited("partners.revoke", partner_id) as (session, _detail):
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
    with state.audited("stats.rebuild", "roll-ups") as (session, detail):
        read = detail["scans"] = services.rebuild_rollups(session)
    emit(as_json, {"scans": read}, f"roll-ups rebuilt from {read} scans")
