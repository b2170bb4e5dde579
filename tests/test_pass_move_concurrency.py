"""Concurrent moves of one pass on PostgreSQL: the daily limit holds, and each move withdraws
the credential the one before it issued (the pass row is locked for the move)."""

from __future__ import annotations

import threading
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from sqlalchemy import select

from passes import credential
from passes.models import Pass, PassMove
from tests.test_orders import order, rider
from tests.test_orders_concurrency import committed_app  # noqa: F401 - the fixture


def test_concurrent_moves_stop_at_the_limit_and_chain(
        committed_app: Flask) -> None:  # noqa: F811 - the fixture imported above
    client = committed_app.test_client()
    auth = rider(client, "race-move@example.jp")
    pass_id = order(client, auth, "race-move", service_date="2026-12-01").get_json()["pass"]["id"]
    first = credential.compress_public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
    bound = client.post(f"/api/v1/passes/{pass_id}/device", json={"public_key": first},
                        headers=auth).get_json()
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def move() -> None:
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        local = committed_app.test_client()
        barrier.wait()
        answer: Any = local.post(f"/api/v1/passes/{pass_id}/move",
                                 json={"public_key": credential.compress_public_key(key)},
                                 headers=auth)
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=move) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 429, 429, 429, 429]
    with committed_app.extensions["maas"].sessions() as session:
        moves = session.scalars(select(PassMove).where(PassMove.pass_id == pass_id)
                                .order_by(PassMove.moved_at, PassMove.id)).all()
        current = session.get(Pass, pass_id)
        assert current is not None
        chain = {m.from_credential_id: m.to_credential_id for m in moves}
        assert len(chain) == 2
        # bound → first move → second move, ending at the pass's credential now
        middle = chain[bound["credential_id"]]
        assert chain[middle] == current.credential_id
