"""The audit trail: operator actions recorded with actor, time, target and outcome."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from maas.core.audit import AuditEvent, cli_actor
from tests.conftest import FIXED_NOW, Runner

pytestmark = pytest.mark.usefixtures("loaded_demo")


def events(db_session: Session) -> list[tuple[str, str, str, str]]:
    return [(e.actor, e.action, e.target, e.outcome)
            for e in db_session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_operator_actions_are_recorded_with_their_outcome(
        runner: Runner, db_session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAAS_ACTOR", "tanaka")
    issued = runner.invoke("passes", "issue", "--product", "kanazawa-1day", "--date",
                           "2026-12-01", "--json")
    assert issued.exit_code == 0, issued.output
    pass_id = json.loads(issued.stdout)["id"]
    assert runner.invoke("passes", "revoke", pass_id, "--reason", "lost").exit_code == 0
    missing = runner.invoke("passes", "revoke", "no-such-pass", "--reason", "lost")
    assert missing.exit_code == 1
    added = runner.invoke("devices", "add", "--operator", "hokutetsu", "--vehicle", "bus-9",
                          "--json")
    device_id = json.loads(added.stdout)["device_id"]
    assert runner.invoke("devices", "revoke", device_id).exit_code == 0
    partner = runner.invoke("partners", "add", "Audit Co", "--operator", "hokutetsu", "--json")
    partner_id = json.loads(partner.stdout)["partner_id"]
    assert runner.invoke("partners", "revoke", partner_id).exit_code == 0
    assert runner.invoke("keys", "rotate").exit_code == 0
    assert events(db_session) == [
        ("cli:tanaka", "passes.issue", "kanazawa-1day 2026-12-01", "success"),
        ("cli:tanaka", "passes.revoke", pass_id, "success"),
        ("cli:tanaka", "passes.revoke", "no-such-pass", "failure"),
        ("cli:tanaka", "devices.add", "hokutetsu bus-9", "success"),
        ("cli:tanaka", "devices.revoke", device_id, "success"),
        ("cli:tanaka", "partners.add", "Audit Co (hokutetsu)", "success"),
        ("cli:tanaka", "partners.revoke", partner_id, "success"),
        ("cli:tanaka", "keys.rotate", "issuing", "success"),
    ]
    failed = db_session.scalar(select(AuditEvent).where(AuditEvent.outcome == "failure"))
    assert failed is not None
    assert "no-such-pass" in failed.detail["error"]
    assert failed.at == FIXED_NOW


def test_a_failed_feed_import_is_recorded_and_changes_nothing(
        runner: Runner, db_session: Session) -> None:
    result = runner.invoke("gtfs", "import", "/nonexistent/feed.zip", "--name", "broken")
    assert result.exit_code == 1
    [event] = db_session.scalars(select(AuditEvent)).all()
    assert (event.action, event.target, event.outcome) == (
        "feeds.import", "gtfs broken /nonexistent/feed.zip", "failure")


def test_audit_list_filters_by_action_and_time(runner: Runner) -> None:
    runner.invoke("devices", "add", "--operator", "hokutetsu", "--vehicle", "bus-1")
    runner.invoke("keys", "rotate")
    runner.invoke("keys", "rotate", "--kind", "bundle")
    listed = json.loads(runner.invoke("audit", "list", "--action", "keys.*", "--json").stdout)
    assert [(e["action"], e["target"]) for e in listed["events"]] == [
        ("keys.rotate", "bundle"), ("keys.rotate", "issuing")]
    exact = json.loads(runner.invoke("audit", "list", "--action", "devices.add",
                                     "--json").stdout)
    assert len(exact["events"]) == 1
    later = json.loads(runner.invoke("audit", "list", "--since", "2026-12-02", "--json").stdout)
    assert later["events"] == []
    text = runner.invoke("audit", "list")
    assert "keys.rotate" in text.output
    bad = runner.invoke("audit", "list", "--since", "yesterday")
    assert bad.exit_code == 1
    assert "--since" in bad.output


def test_the_cli_actor_is_maas_actor_or_the_os_user() -> None:
    assert cli_actor({"MAAS_ACTOR": "sato"}) == "cli:sato"
    assert cli_actor({}).startswith("cli:")
    assert cli_actor({}) != "cli:"
