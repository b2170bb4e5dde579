"""``maas-validator`` for real: enrolment against a running server, offline checks, a durable
journal, and sync — with processes killed at random moments losing and duplicating nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from passes import credential, qr
from tests.conftest import RunningServer, maas_executable
from tests.test_scans import reencodings
from validators.device import Device

TOKYO = ZoneInfo("Asia/Tokyo")
PHONE = ec.generate_private_key(ec.SECP256R1())


def noon_today() -> dt.datetime:
    """Noon in Kanazawa today: inside today's pass window whatever the real hour is."""
    today = dt.datetime.now(TOKYO).date()
    return dt.datetime.combine(today, dt.time(12), TOKYO)


def operator_cli(server: RunningServer, *args: str) -> dict[str, str]:
    """`maas ...` on the demo server's own instance."""
    env = {**os.environ, "MAAS_HOME": str(server.home), "MAAS_ENV": "demo"}
    env.pop("MAAS_DATABASE_URL", None)
    done = subprocess.run([maas_executable(), *args, "--json"], env=env, capture_output=True,
                          text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    document: dict[str, str] = json.loads(done.stdout)
    return document


def validator(home: Path, *args: str, stdin: str | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`maas-validator --home HOME ...`."""
    return subprocess.run([maas_executable("maas-validator"), "--home", str(home), *args],
                          input=stdin, capture_output=True, text=True, check=False,
                          timeout=60, env={**os.environ, **(env or {})})


@pytest.fixture
def enrolled(demo_server: RunningServer, tmp_path: Path) -> Path:
    """A validator home enrolled on a 北鉄 bus of the demo server."""
    added = operator_cli(demo_server, "devices", "add", "--operator", "hokutetsu",
                         "--vehicle", f"bus-{random.randrange(10**6)}")
    home = tmp_path / "validator"
    done = validator(home, "enroll", "--server", demo_server.base_url,
                     "--code", added["enrollment_code"])
    assert done.returncode == 0, done.stderr
    assert (home / "bundle.jws").exists()
    assert (home / "device.json").stat().st_mode & 0o777 == 0o600
    return home


def bound_token(server: RunningServer, tmp_path: Path) -> str:
    """A real pass for today, bound to PHONE, issued by the server's keys."""
    pem = tmp_path / "phone.pem"
    pem.write_bytes(PHONE.public_key().public_bytes(Encoding.PEM,
                                                    PublicFormat.SubjectPublicKeyInfo))
    issued = operator_cli(server, "passes", "issue", "--product", "kanazawa-1day",
                          "--date", noon_today().date().isoformat(),
                          "--device-key", str(pem))
    return issued["token"]


def server_scans(server: RunningServer, device_id: str) -> list[str]:
    with sqlite3.connect(server.home / "maas.sqlite3") as connection:
        return [row[0] for row in connection.execute(
            "SELECT id FROM scans WHERE device_id = ?", (device_id,))]


def test_checks_offline_with_exit_codes_then_syncs(
        demo_server: RunningServer, enrolled: Path, tmp_path: Path) -> None:
    at = noon_today()
    payload = credential.present(bound_token(demo_server, tmp_path), PHONE, at)
    accepted = validator(enrolled, "check", payload, "--at", at.isoformat(), "--json")
    assert accepted.returncode == 0, accepted.stderr
    verdict = json.loads(accepted.stdout)
    assert verdict["result"] == "accept"
    assert verdict["code"] == "accept"
    assert verdict["scan_id"]
    assert verdict["pass_id"]
    replayed = validator(enrolled, "check", "--stdin", "--at", at.isoformat(), "--json",
                         stdin=payload + "\n")
    assert replayed.returncode == 1
    assert json.loads(replayed.stdout)["code"] == "replay"
    # a fresh presentation, read from a picture of the phone's screen
    image = tmp_path / "code.png"
    later = at + dt.timedelta(seconds=10)
    image.write_bytes(qr.png(credential.present(bound_token(demo_server, tmp_path), PHONE,
                                                later)))
    from_image = validator(enrolled, "check", "--image", str(image), "--at", later.isoformat())
    assert from_image.returncode == 0, from_image.stderr
    assert from_image.stdout.startswith("ACCEPT accept: 有効です")
    garbage = validator(enrolled, "check", "not-a-pass", "--json")
    assert garbage.returncode == 1
    assert json.loads(garbage.stdout)["code"] == "malformed"
    stale = validator(enrolled, "check", payload, "--json",
                      "--at", (at + dt.timedelta(days=4)).isoformat())
    assert stale.returncode == 2
    assert json.loads(stale.stdout)["code"] == "stale_bundle"

    synced = validator(enrolled, "sync", "--json")
    assert synced.returncode == 0, synced.stderr
    report = json.loads(synced.stdout)
    assert report == {"bundle_version": report["bundle_version"], "uploaded": 5,
                      "duplicates": 0, "pending": 0}
    again = json.loads(validator(enrolled, "sync", "--json").stdout)
    assert again["uploaded"] == 0
    assert again["bundle_version"] == report["bundle_version"]
    device_id = json.loads((enrolled / "device.json").read_text())["device_id"]
    assert len(server_scans(demo_server, device_id)) == 5


def test_re_encoded_codes_and_the_same_pass_again_are_refused(
        demo_server: RunningServer, enrolled: Path, tmp_path: Path) -> None:
    at = noon_today()
    token = bound_token(demo_server, tmp_path)
    payload = credential.present(token, PHONE, at)
    assert validator(enrolled, "check", payload, "--at", at.isoformat()).returncode == 0
    device = Device(enrolled)  # the same journal, in this process: no start-up per code
    codes = {device.check(variant, at).result.code for variant in reencodings(payload)}
    assert codes == {"malformed"}
    later = at + dt.timedelta(seconds=30)
    assert device.check(credential.present(token, PHONE, later), later).result.code == "replay"
    # the window is the device's setting
    much_later = at + dt.timedelta(seconds=40)
    fresh = credential.present(token, PHONE, much_later)
    done = validator(enrolled, "check", "--stdin", "--at", much_later.isoformat(), "--json",
                     stdin=fresh + "\r\n", env={"MAAS_VALIDATOR_SAME_DEVICE_S": "10"})
    assert json.loads(done.stdout)["code"] == "accept", done.stderr
    with sqlite3.connect(enrolled / "journal.sqlite3") as journal:
        rows = journal.execute("SELECT code FROM scans ORDER BY scanned_at").fetchall()
    assert [code for (code,) in rows].count("accept") == 2


def test_no_bundle_and_bad_input(enrolled: Path, tmp_path: Path) -> None:
    (enrolled / "bundle.jws").unlink()
    blind = validator(enrolled, "check", "whatever", "--json")
    assert blind.returncode == 2
    assert json.loads(blind.stdout)["code"] == "no_bundle"
    tampered = enrolled / "bundle.jws"
    tampered.write_text("eyJhbGciOiJub25lIn0.e30.")
    assert validator(enrolled, "check", "whatever").returncode == 2
    nowhere = validator(tmp_path / "new", "check", "x")
    assert nowhere.returncode == 1
    assert "not enrolled" in nowhere.stderr
    assert "Traceback" not in nowhere.stderr
    both = validator(enrolled, "check", "x", "--stdin")
    assert both.returncode == 1
    assert "exactly one" in both.stderr
    bad_at = validator(enrolled, "check", "x", "--at", "noon")
    assert bad_at.returncode == 1
    assert "--at" in bad_at.stderr
    unreadable = tmp_path / "not.png"
    unreadable.write_text("text")
    no_image = validator(enrolled, "check", "--image", str(unreadable))
    assert no_image.returncode == 1
    assert "not an image" in no_image.stderr
    wrong_code = validator(tmp_path / "other", "enroll", "--server", "http://127.0.0.1:9",
                           "--code", "nope-nope-nope")
    assert wrong_code.returncode == 1
    assert "unreachable" in wrong_code.stderr


def test_killed_checks_never_show_an_unjournaled_result(
        demo_server: RunningServer, enrolled: Path, tmp_path: Path) -> None:
    at = noon_today()
    token = bound_token(demo_server, tmp_path)
    started = time.monotonic()
    first = validator(enrolled, "check", credential.present(token, PHONE, at), "--at",
                      at.isoformat(), "--json")
    full = time.monotonic() - started  # how long one whole check takes on this machine
    shown: list[str] = [json.loads(first.stdout)["scan_id"]]
    killed = 0
    rng = random.Random(6)
    for i in range(1, 16):
        payload = credential.present(token, PHONE, at + dt.timedelta(seconds=i))
        process = subprocess.Popen(
            [maas_executable("maas-validator"), "--home", str(enrolled), "check", payload,
             "--at", (at + dt.timedelta(seconds=i)).isoformat(), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.5, 1.1) * full)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        out, _ = process.communicate()
        if out.strip():
            shown.append(json.loads(out)["scan_id"])
    assert killed > 0, "no process was killed: lengthen the random delays"
    assert len(shown) > 1, "no killable process finished: shorten the random delays"
    with sqlite3.connect(enrolled / "journal.sqlite3") as journal:
        assert journal.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        journaled = {row[0] for row in journal.execute("SELECT id FROM scans")}
    assert set(shown) <= journaled


def _settled_count(server: RunningServer, device_id: str) -> int:
    """The server's count of the device's scans once it stops changing: a killed sync's last
    batch may still be committing on the server after the client is gone."""
    count = len(server_scans(server, device_id))
    for _ in range(50):
        time.sleep(0.2)
        again = len(server_scans(server, device_id))
        if again == count:
            return count
        count = again
    return count


def test_killed_uploads_lose_and_duplicate_nothing(
        demo_server: RunningServer, enrolled: Path, tmp_path: Path) -> None:
    at = noon_today()
    token = bound_token(demo_server, tmp_path)
    device = Device(enrolled)
    for i in range(1500):
        device.check(credential.present(token, PHONE, at + dt.timedelta(seconds=i % 40)),
                     at + dt.timedelta(seconds=i % 40))
    assert device.pending() == 1500
    device_id = device.enrolment().device_id
    rng = random.Random(7)
    kills = 0
    for _ in range(4):
        process = subprocess.Popen(
            [maas_executable("maas-validator"), "--home", str(enrolled), "sync"],
            env={**os.environ, "MAAS_VALIDATOR_BATCH": "50"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.5))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    assert kills > 0
    partial = _settled_count(demo_server, device_id)
    final = validator(enrolled, "sync", "--json")
    assert final.returncode == 0, final.stderr
    report = json.loads(final.stdout)
    assert report["pending"] == 0
    on_server = server_scans(demo_server, device_id)
    assert len(on_server) == len(set(on_server)) == 1500
    with sqlite3.connect(enrolled / "journal.sqlite3") as journal:
        journaled = {row[0] for row in journal.execute("SELECT id FROM scans")}
    assert set(on_server) == journaled
    # whatever a killed sync had sent but not marked came back as duplicates, not new rows
    assert report["uploaded"] == 1500 - partial
