"""Loading feeds (atomic, idempotent by content) and the `maas demo` setup."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gtfs.models import Feed, Operator
from gtfs.network import NetworkStore
from gtfs.services import LoadResult, active_feeds, import_gtfs, load_feed
from maas.core.errors import InvalidInput
from maas.demo.kanazawa import write_demo
from passes.models import Product
from passes.services import load_products
from tests.conftest import FIXED_NOW, Runner, fixed_clock


@pytest.fixture
def demo_files(tmp_path: Path) -> dict[str, Path]:
    return write_demo(tmp_path / "demo", FIXED_NOW.date())


def gtfs_import(session: Session, store: NetworkStore, path: Path, name: str) -> LoadResult:
    return import_gtfs(session, store, str(path), name, fixed_clock)


@pytest.fixture
def store(tmp_path: Path) -> NetworkStore:
    return NetworkStore(tmp_path / "home")


def test_loading_is_idempotent_by_content(
    db_session: Session, demo_files: dict[str, Path], store: NetworkStore
) -> None:
    first = gtfs_import(db_session, store, demo_files["gtfs"], "k")
    again = gtfs_import(db_session, store, demo_files["gtfs"], "k")
    assert first.created
    assert not again.created
    assert again.feed.id == first.feed.id
    assert first.feed.summary["trips"] > 1000
    assert first.feed.summary["service_start"] <= "2026-12-01"


def test_a_zip_and_a_bom_load_like_a_folder(
    db_session: Session, demo_files: dict[str, Path], tmp_path: Path, store: NetworkStore
) -> None:
    archive = tmp_path / "feed.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(demo_files["gtfs"].iterdir()):
            data = path.read_bytes()
            if path.name == "agency.txt":
                data = "\ufeff".encode() + data
            out.writestr(f"nested/{path.name}", data)
    result = gtfs_import(db_session, store, archive, "zipped")
    assert result.feed.summary["agencies"] == 3
    assert db_session.get(Operator, "hokutetsu") is not None


def test_new_version_replaces_old_and_failure_keeps_old(
    db_session: Session, demo_files: dict[str, Path], tmp_path: Path, store: NetworkStore
) -> None:
    old = gtfs_import(db_session, store, demo_files["gtfs"], "k").feed
    changed = tmp_path / "changed"
    shutil.copytree(demo_files["gtfs"], changed)
    with (changed / "feed_info.txt").open("a", encoding="utf-8") as handle:
        handle.write("x,https://example.org,ja,20261001,20271104,other\n")
    new = gtfs_import(db_session, store, changed, "k").feed
    assert [f.id for f in active_feeds(db_session) if f.name == "k"] == [new.id]
    assert not db_session.get(Feed, old.id).active  # type: ignore[union-attr]

    broken = tmp_path / "broken"
    shutil.copytree(changed, broken)
    (broken / "stops.txt").unlink()
    with pytest.raises(InvalidInput, match=r"stops\.txt"):
        gtfs_import(db_session, store, broken, "k")
    assert [f.id for f in active_feeds(db_session) if f.name == "k"] == [new.id]
    timetable = store.current(db_session)
    assert timetable is not None
    assert timetable.meta["feeds"] == ["k"]


def test_bad_gbfs_json_names_file_and_line(
    db_session: Session, demo_files: dict[str, Path]
) -> None:
    path = demo_files["gbfs"] / "system_information.json"
    path.write_text('{"data": {\n  "system_id": \n}', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"system_information\.json: invalid JSON at line 3"):
        load_feed(db_session, "gbfs", "k", demo_files["gbfs"], fixed_clock)


def test_bad_product_names_the_field(db_session: Session, tmp_path: Path) -> None:
    path = tmp_path / "products.json"
    path.write_text(json.dumps([{"code": "x-pass", "name": "x", "name_en": "x",
                                 "adult_yen": -1, "child_yen": 0, "operators": ["a"],
                                 "day_boundary": "3am"}]), encoding="utf-8")
    with pytest.raises(InvalidInput) as info:
        load_products(db_session, path)
    fields = {error.field for error in info.value.errors}
    assert fields == {"[0].adult_yen", "[0].day_boundary"}
    assert db_session.scalar(select(func.count()).select_from(Product)) == 0


def _counts(session: Session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Feed, Operator, Product)
    )


def test_demo_twice_reuses_everything(runner: Runner, db_session: Session) -> None:
    first = runner.invoke("demo", "--no-serve", "--json")
    assert first.exit_code == 0, first.output
    document = json.loads(first.stdout)
    assert all(feed["new"] for feed in document["feeds"].values())
    assert document["urls"]["rider"].endswith("/app")
    counts = _counts(db_session)
    assert counts == (3, 5, 2)
    login = document["logins"]["rider"]
    assert login["email"].endswith("@demo.kanazawa-maas.jp")

    second = runner.invoke("demo", "--no-serve", "--json")
    assert second.exit_code == 0, second.output
    assert not any(feed["new"] for feed in json.loads(second.stdout)["feeds"].values())
    assert _counts(db_session) == counts


def test_demo_data_is_served(runner: Runner, client: FlaskClient) -> None:
    result = runner.invoke("demo", "--no-serve", "--json")
    assert result.exit_code == 0
    login = json.loads(result.stdout)["logins"]["rider"]
    token = client.post("/api/v1/auth/token", json=login)
    assert token.status_code == 200
    assert runner.invoke("demo", "--no-serve").exit_code == 0  # the login is not duplicated
    products = {p["code"]: p for p in client.get("/api/v1/products").get_json()}
    assert products["kanazawa-1day"]["prices"] == {"adult": 800, "child": 400}
    assert products["kanazawa-1day"]["name"] == "金沢市内1日フリー乗車券"
    assert products["kanazawa-1day"]["day_boundary"] == "03:00"
    assert "machinori" in products["kanazawa-1day-machinori"]["operators"]
    operators = client.get("/api/v1/operators?mode=bike").get_json()
    assert [o["id"] for o in operators] == ["machinori"]
    every = {o["id"] for o in client.get("/api/v1/operators").get_json()}
    assert every == {"hokutetsu", "jrbus", "flatbus", "machinori", "suitto"}
    one = client.get("/api/v1/products/kanazawa-1day").get_json()
    assert one == products["kanazawa-1day"]


def test_demo_on_a_taken_port_fails_in_one_line(runner: Runner) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke("demo", "--port", str(port))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port} (Address already in use); "
        "choose another with --port"
    ]
    assert runner.exec_calls == []


def test_demo_execs_gunicorn_with_the_chosen_port(runner: Runner, tmp_path: Path) -> None:
    from tests.conftest import free_port

    port = free_port()
    result = runner.invoke("demo", "--port", str(port))
    assert isinstance(result.exception, RuntimeError)  # our stand-in for execve
    assert f"http://127.0.0.1:{port}/app" in result.stdout
    [(argv, env)] = runner.exec_calls
    assert argv[1:] == ["-P", "-m", "gunicorn", "--config", "python:maas.gunicorn_conf",
                        "maas:create_app()"]
    assert (env["MAAS_HOST"], env["MAAS_PORT"]) == ("127.0.0.1", str(port))
    # the server runs in MAAS_HOME, so a checkout in the working directory cannot shadow it
    assert runner.exec_cwd == runner.app.extensions["maas"].settings.home.resolve()
    assert env["MAAS_DATABASE_URL"] == runner.app.extensions["maas"].settings.database_url
    assert runner.workers_started == [runner.exec_cwd]  # maas worker runs beside the demo


def test_demo_prints_working_driver_and_partner_logins(
        runner: Runner, client: FlaskClient) -> None:
    first = json.loads(runner.invoke("demo", "--no-serve", "--json").stdout)["logins"]
    again = json.loads(runner.invoke("demo", "--no-serve", "--json").stdout)["logins"]
    assert again == first  # kept while still valid
    for key in first["partners"].values():
        me = client.get("/api/v1/stats/me", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 200, me.get_json()
    enrolled = client.post("/api/v1/devices/enroll",
                           json={"code": first["driver"]["enrollment_code"]})
    assert enrolled.status_code == 200
    assert enrolled.get_json()["operator"] == "hokutetsu"
    third = json.loads(runner.invoke("demo", "--no-serve", "--json").stdout)["logins"]
    assert third["driver"]["enrollment_code"] != first["driver"]["enrollment_code"]
    assert third["partners"] == first["partners"]
    saved = runner.app.extensions["maas"].settings.home / "demo-credentials.json"
    assert saved.stat().st_mode & 0o777 == 0o600
