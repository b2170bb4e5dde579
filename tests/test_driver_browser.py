"""The driver page (/driver) in a real chromium: the browser verifier and the offline scanner.

The browser verifier (maas/static/verify.js) must give the code of every shared vector that
validators/verify.py gives. The page is then driven like a driver would: enrol with a real
enrolment code of the running demo server, read real bound passes from PNG QR codes (decoded by
the zxing-wasm ponyfill, whose wasm this server serves), get green and red verdicts, reload
with the network off, still judge, and sync the journal once back online.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maas.core.clock import TOKYO, system_clock
from maas.core.db import create_db_engine, session_factory
from passes import bundle as trust
from passes import credential, qr
from passes import services as pass_services
from passes.jwk import public_jwk
from tests.conftest import (
    CHROMIUM_ARGS,
    RunningServer,
    chromium_path,
    demo_keys,
    wait_until_controlled,
)
from tests.test_pages_browser import ARTIFACTS
from tests.vectors import load
from validators import services as device_services
from validators.models import Scan
from validators.verify import Context, TrustBundle, digest, verify

pytestmark = pytest.mark.browser
KANAZAWA_STATION = {"latitude": 36.57806, "longitude": 136.64806}


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 390, "height": 844},
                                  locale="ja-JP", timezone_id="Asia/Tokyo",
                                  geolocation=KANAZAWA_STATION, permissions=["geolocation"])
    yield context
    context.close()


def _page(context: BrowserContext) -> tuple[Page, list[str], list[str]]:
    """A page that records its script errors and every URL it requests."""
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    context.on("request", lambda request: requests.append(request.url))
    return page, errors, requests


VERIFY_VECTORS = """async (vectors) => {
  const m = await import("/static/verify.js");
  const shared = await m.loadBundle(vectors.bundle);
  const out = [];
  for (const c of vectors.cases) {
    const bundle = "bundle" in c ? (c.bundle && await m.loadBundle(c.bundle)) : shared;
    const r = await m.verify(c.payload, bundle, c.now,
                             {operator: c.operator, seen: c.seen, passes: c.passes});
    out.push({name: c.name, code: r.code, expected: c.expected,
              message_ja: r.message_ja, message_en: r.message_en});
  }
  return out;
}"""


def test_browser_verifier_agrees_with_every_shared_vector(
        context: BrowserContext, demo_server: RunningServer) -> None:
    from validators.verify import MESSAGES

    page, errors, _ = _page(context)
    page.goto(f"{demo_server.base_url}/driver")
    vectors = load()
    judged: list[dict[str, Any]] = page.evaluate(VERIFY_VECTORS, vectors)
    assert len(judged) == len(vectors["cases"])
    mismatches = [f"{j['name']}: browser {j['code']}, expected {j['expected']}"
                  for j in judged if j["code"] != j["expected"]]
    assert mismatches == []
    # the same words as the Python verifier, in both languages
    assert all((j["message_ja"], j["message_en"]) == MESSAGES[j["code"]] for j in judged)
    assert errors == []


LOW_S = """async (signatures) => {
  const m = await import("/static/common.js");
  return signatures.map((text) => m.b64url(m.lowS(m.unb64url(text))));
}"""


def test_pages_write_low_s_and_strict_base64url_as_python_does(
        page: Page, demo_server: RunningServer) -> None:
    """The rider page's WebCrypto draws s at random: common.js's lowS (which rider.js applies
    before encoding) must give what passes.credential.low_s gives."""
    page.goto(f"{demo_server.base_url}/driver")
    key = ec.generate_private_key(ec.SECP256R1())
    signatures = []
    for i in range(40):
        r, s = decode_dss_signature(key.sign(f"m{i}".encode(), ec.ECDSA(hashes.SHA256())))
        signatures.append(credential.b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")))
    expected = [credential.b64url(credential.low_s(credential.unb64url(text)))
                for text in signatures]
    assert expected != signatures  # some were high (one in two)
    assert page.evaluate(LOW_S, signatures) == expected
    rejected = page.evaluate("""async (texts) => {
      const m = await import("/static/common.js");
      return texts.map((t) => { try { m.unb64url(t); return false; } catch { return true; } });
    }""", ["QQ==", "QR", "+w", " QQ", "QQ\n", "Q"])
    assert all(rejected)


OLD_SCANS = """async (pending) => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("maas-driver");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const at = Date.now() - 4 * 86400000;
  const row = (id, pending) => ({id, digest: null, result: "reject", code: "malformed",
    pass_id: null, product: null, category: null, service_date: null, source: "manual",
    scanned_at: new Date(at + 9 * 3600000).toISOString().replace("Z", "+09:00"),
    scanned_ms: at, ...(pending ? {pending: 1} : {})});
  const ids = Array.from({length: pending + 1}, () => crypto.randomUUID());
  await new Promise((resolve, reject) => {
    const t = db.transaction("scans", "readwrite");
    ids.forEach((id, i) => t.objectStore("scans").put(row(id, i > 0)));
    t.oncomplete = resolve;
    t.onerror = () => reject(t.error);
  });
  db.close();
  return ids;
}"""


def _boarding_time() -> dt.datetime:
    """Now, or 04:30 today when it is earlier in Kanazawa: a pass's service date starts at 04:00
    (before 03:00 yesterday's still runs, but the deny-list holds today's and tomorrow's)."""
    now = dt.datetime.now(TOKYO)
    return max(now, now.replace(hour=4, minute=30, second=0, microsecond=0))


def _qr_file(folder: Path, name: str, payload: str) -> Path:
    path = folder / f"{name}.png"
    path.write_bytes(qr.png(payload))
    return path


def _enrol(page: Page, base_url: str, code: str) -> None:
    """Enrol through the page: device token, pinned bundle keys, a verified trust bundle."""
    page.goto(f"{base_url}/driver")
    expect(page.locator("#result")).to_contain_text("登録")
    page.fill("#enrol-code", code)
    page.get_by_role("button", name="この端末を登録").click()
    expect(page.locator("#scanner")).to_be_visible()
    page.wait_for_function("() => window.maasDriver.state.bundle !== null")


def _scan(page: Page, image: Path, state: str, reason_ja: str) -> None:
    page.set_input_files("#scan-image", str(image))
    result = page.locator("#result")
    expect(result).to_have_attribute("data-state", state)
    expect(result.locator(".reason-ja")).to_have_text(reason_ja)


def test_driver_enrols_judges_offline_and_syncs(
        context: BrowserContext, demo_server: RunningServer, tmp_path: Path) -> None:
    moment = _boarding_time()
    phone = ec.generate_private_key(ec.SECP256R1())
    engine = create_db_engine(f"sqlite:///{demo_server.home / 'maas.sqlite3'}")
    with session_factory(engine)() as session:
        keys = demo_keys(session)
        enrolment = device_services.add_device(session, "hokutetsu", "bus-1", None, system_clock)
        good, revoked, later, second = (
            pass_services.issue_pass(session, keys, "kanazawa-1day", day, "adult",
                                     phone.public_key(), system_clock)
            for day in (moment.date(), moment.date(), moment.date() + dt.timedelta(days=2),
                        moment.date()))
        pass_services.revoke_pass(session, revoked.pass_id, "lost phone reported")
    device_id = enrolment.device.id
    # the page's clock runs from the boarding time; the phone presents on the same clock
    context.clock.install(time=moment)

    def shown(issued: pass_services.IssuedPass, name: str) -> Path:
        at = dt.datetime.fromtimestamp(page.evaluate("Date.now()") / 1000, dt.UTC)
        return _qr_file(tmp_path, name, credential.present(issued.token, phone, at))

    page, errors, requests = _page(context)
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(f"{demo_server.base_url}/driver")
    page.fill("#enrol-code", "not-a-real-code")
    page.get_by_role("button", name="この端末を登録").click()
    expect(page.locator("#enrol-message")).to_have_text("登録コードが無効か、使用済みです。")
    _enrol(page, demo_server.base_url, enrolment.enrollment_code)
    expect(page.locator("#status-operator")).to_have_text("hokutetsu")
    # nothing on the scanner is wider than the phone (the image input once made it 554 px)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.locator("#day-swatch")).to_have_attribute("data-colour",
                                                          re.compile("^#[0-9A-F]{6}$"))

    # a bound pass shown now: green, with the product and category
    accepted = shown(good, "accept")
    _scan(page, accepted, "accept", "有効です")
    expect(page.locator("#result .pass-category")).to_have_text("大人")
    expect(page.locator("#result .pass-product")).to_have_text("金沢市内1日フリー乗車券")
    expect(page.locator("#status-reader")).to_have_text("zxing-wasm")
    page.screenshot(path=str(ARTIFACTS / "driver-accept.png"), full_page=True)
    # the page reports how long it took; speed itself is the benchmark's business
    assert float(page.locator("#result").get_attribute("data-judged-ms") or "nan") > 0
    page.get_by_role("button", name="English / 日本語").click()
    expect(page.locator("#result .verdict")).to_have_text("OK to board")
    expect(page.locator("#result .pass-category")).to_have_text("Adult")
    expect(page.locator("#journal li").first).to_contain_text("Valid pass")
    page.get_by_role("button", name="English / 日本語").click()
    # the same code again on this device: a replay
    _scan(page, accepted, "reject", "この端末で使用済みのコードです")
    # revoked, and a pass for the day after tomorrow: red with the reason
    _scan(page, shown(revoked, "revoked"), "reject", "無効化された乗車券です")
    page.screenshot(path=str(ARTIFACTS / "driver-reject.png"), full_page=True)
    _scan(page, shown(later, "later"), "reject", "利用日前です")
    page.get_by_label("コードを貼り付け・入力").fill("https://example.jp/")
    page.get_by_role("button", name="判定する").click()
    expect(page.locator("#result")).to_have_attribute("data-code", "malformed")
    # a junk code after a pass leaves none of that pass behind, in either language
    expect(page.locator("#result .pass-category")).to_have_text("")
    page.get_by_role("button", name="English / 日本語").click()
    expect(page.locator("#result .verdict")).to_have_text("Not valid")
    for detail in (".pass-category", ".pass-product", ".pass-date"):
        expect(page.locator(f"#result {detail}")).to_have_text("")
    page.get_by_role("button", name="English / 日本語").click()

    # no network: the service worker serves the page, its scripts and the wasm
    wait_until_controlled(page)
    context.set_offline(True)
    [worker] = context.service_workers
    assert worker.evaluate("fetch('/api/v1/health').then(() => 'online', () => 'offline')") \
        == "offline"
    page.reload()
    expect(page.locator("#scanner")).to_be_visible()
    page.wait_for_function("() => window.maasDriver.state.bundle !== null")
    # (another rider: `good` again on this bus within minutes would be a replay)
    _scan(page, shown(second, "accept-offline"), "accept", "有効です")
    expect(page.locator("#status-sync")).to_contain_text("オフライン")
    page.screenshot(path=str(ARTIFACTS / "driver-offline.png"), full_page=True)
    journal: list[dict[str, Any]] = page.evaluate("maasDriver.allScans()")
    assert [row["code"] for row in journal] == [
        "accept", "malformed", "too_early", "revoked", "replay", "accept"]
    assert journal[0].get("pending") == 1  # judged offline, not yet uploaded
    # (those judged online went up if a sync ran before the network was cut)
    pending = sum(1 for row in journal if row.get("pending"))
    assert all(row["scanned_at"].endswith("+09:00") for row in journal)
    # every scan has a digest: of what the code says, or of the text if it says nothing
    assert journal[1]["digest"] == digest("https://example.jp/")
    assert journal[5]["digest"] == journal[4]["digest"]  # the replay: the same content
    assert journal[5]["pass_id"] == good.pass_id

    # back online, the first upload's answer is lost: the server has the scans, the page saw a
    # 502 and keeps them pending; the retry is counted as duplicates and nothing is stored twice
    answers: list[dict[str, int]] = []
    page.on("response", lambda response: answers.append(response.json())
            if response.url.endswith("/api/v1/scans") and response.ok else None)

    def lose_answer(route: Route) -> None:
        route.fetch()
        route.fulfill(status=502, body="")

    context.route("**/api/v1/scans", lose_answer)
    context.set_offline(False)  # the page syncs by itself when it comes online
    expect(page.locator("#status-sync")).to_contain_text("同期エラー 502")
    expect(page.locator("#status-pending")).to_have_text(str(pending))
    context.unroute("**/api/v1/scans", lose_answer)
    page.evaluate("maasDriver.syncNow()")
    expect(page.locator("#status-pending")).to_have_text("0")
    assert answers == [{"accepted": 0, "duplicates": pending}]
    with Session(engine) as session:
        stored = session.scalars(select(Scan).where(Scan.device_id == device_id)).all()
    assert sorted(s.id for s in stored) == sorted(row["id"] for row in journal)
    by_id = {s.id: s for s in stored}
    assert by_id[journal[0]["id"]].result == "accept"
    assert by_id[journal[0]["id"]].pass_id == second.pass_id
    # where the bus was, for the server's impossible-speed check
    assert (by_id[journal[0]["id"]].lat, by_id[journal[0]["id"]].lon) == (36.57806, 136.64806)
    assert by_id[journal[3]["id"]].code == "revoked"
    again = page.evaluate("maasDriver.syncNow()")
    assert again["uploaded"] == 0  # nothing pending: nothing sent twice

    # a backlog goes up in batches of at most 500; old scans leave the device once uploaded,
    # never before
    uploaded_id, *pending_ids = page.evaluate(OLD_SCANS, 501)
    assert page.evaluate("maasDriver.syncNow()")["uploaded"] == 501
    assert answers[-2:] == [{"accepted": 500, "duplicates": 0}, {"accepted": 1, "duplicates": 0}]
    left = {row["id"] for row in page.evaluate("maasDriver.allScans()")}
    assert left == {row["id"] for row in journal}
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Scan).where(
            Scan.id.in_(pending_ids))) == 501
        assert session.get(Scan, uploaded_id) is None  # it was never pending: not sent
    engine.dispose()

    # three days without a sync: the bundle is too old to judge on, whatever is shown (amber)
    context.clock.set_system_time(moment + dt.timedelta(hours=73))
    _scan(page, shown(good, "stale"), "cannot_judge", "判定できません: 検証データが古すぎます")
    page.screenshot(path=str(ARTIFACTS / "driver-stale.png"), full_page=True)

    no_cdn = [url for url in requests if not url.startswith(demo_server.base_url)]
    assert no_cdn == []
    assert any(url.endswith("/static/vendor/zxing-wasm/zxing_reader.wasm") for url in requests)
    assert errors == []


def _y4m(png: bytes, path: Path, size: int = 640) -> Path:
    """One 4:2:0 frame (chromium's fake camera loops it) with the QR code in the middle."""
    code = Image.open(io.BytesIO(png)).convert("L")
    frame = Image.new("L", (size, size), 255)
    code.thumbnail((size - 40, size - 40))
    frame.paste(code, ((size - code.width) // 2, (size - code.height) // 2))
    chroma = bytes([128]) * (size // 2) ** 2
    path.write_bytes(f"YUV4MPEG2 W{size} H{size} F10:1 Ip A1:1 C420jpeg\n".encode()
                     + b"FRAME\n" + frame.tobytes() + chroma + chroma)
    return path


def test_driver_scans_with_the_camera(
        browser: Browser, demo_server: RunningServer, tmp_path: Path) -> None:
    moment = _boarding_time()
    phone = ec.generate_private_key(ec.SECP256R1())
    engine = create_db_engine(f"sqlite:///{demo_server.home / 'maas.sqlite3'}")
    with session_factory(engine)() as session:
        enrolment = device_services.add_device(session, "jrbus", None, "kanazawa-station",
                                               system_clock)
        issued = pass_services.issue_pass(session, demo_keys(session), "kanazawa-1day",
                                          moment.date(), "child", phone.public_key(),
                                          system_clock)
    video = _y4m(qr.png(credential.present(issued.token, phone, moment)), tmp_path / "qr.y4m")
    camera_browser = browser.browser_type.launch(
        executable_path=chromium_path(), headless=True,
        args=[*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream",
              "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}"])
    try:
        context = camera_browser.new_context(
            viewport={"width": 390, "height": 844}, locale="ja-JP", timezone_id="Asia/Tokyo",
            permissions=["camera"])
        context.clock.install(time=moment)
        page, errors, requests = _page(context)
        _enrol(page, demo_server.base_url, enrolment.enrollment_code)
        page.get_by_role("button", name="カメラで読み取る").click()
        result = page.locator("#result")
        expect(result).to_have_attribute("data-state", "accept")
        expect(result.locator(".pass-category")).to_have_text("小児")
        page.screenshot(path=str(ARTIFACTS / "driver-camera.png"))
        page.wait_for_timeout(1500)  # the code stays in view: still one scan, no replay
        journal: list[dict[str, Any]] = page.evaluate("maasDriver.allScans()")
        assert [(row["code"], row["source"]) for row in journal] == [("accept", "camera")]
        page.get_by_role("button", name="カメラを止める").click()
        expect(page.locator("#camera")).to_be_hidden()

        # the device is revoked: the page keeps judging and asks for a new enrolment code,
        # after which its journal goes up again
        with session_factory(engine)() as session:
            device_services.revoke_device(session, enrolment.device.id, system_clock)
            replacement = device_services.add_device(session, "jrbus", None,
                                                     "kanazawa-station", system_clock)
        page.get_by_label("コードを貼り付け・入力").fill("not a pass")
        page.get_by_role("button", name="判定する").click()
        expect(result).to_have_attribute("data-code", "malformed")
        for _ in range(2):  # (the first may join a sync that started before the revocation)
            page.evaluate("maasDriver.syncNow().catch(() => null)")
        expect(page.locator("#enrol")).to_be_visible()
        expect(result).to_contain_text("端末の登録が無効です")
        page.fill("#enrol-code", replacement.enrollment_code)
        page.get_by_role("button", name="この端末を登録").click()
        expect(page.locator("#enrol")).to_be_hidden()
        expect(page.locator("#status-pending")).to_have_text("0")
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(Scan).where(
                Scan.device_id == replacement.device.id)) >= 1
        assert errors == []
        assert [url for url in requests if not url.startswith(demo_server.base_url)] == []
    finally:
        camera_browser.close()
        engine.dispose()


def _raw_jws(header: bytes, payload: bytes, key: ec.EllipticCurvePrivateKey,
             segments: tuple[str, str] | None = None) -> str:
    """A compact ES256 JWS over exactly these bytes (or these already-encoded segments), low s
    as our issuer writes it, so that the checks after the signature are reached too."""
    head, body = segments or (credential.b64url(header), credential.b64url(payload))
    der = key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = credential.low_s(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return f"{head}.{body}.{credential.b64url(raw)}"


def _odd_codes() -> dict[str, Any]:
    """A bundle and codes signed by its real key but odd in form or content: with the
    canonical rules almost all are malformed, but at different steps (form, signature,
    claims), where the two verifiers must still agree."""
    now = dt.datetime(2026, 12, 1, 0, 3, tzinfo=dt.UTC)
    issuer, phone = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    products = [{"code": "kanazawa-1day", "operators": ["hokutetsu"], "static_allowed": False},
                {"code": "print", "operators": ["hokutetsu"], "static_allowed": True}]
    document = trust.build([{**public_jwk(issuer.public_key(), "k1"), "not_after": None}], [],
                           products, now.date(), "odd", now)
    point = phone.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    flat = phone.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    base = {"i": "abc", "p": "kanazawa-1day", "c": "a", "d": "20261201",
            "k": credential.b64url(point)}
    header = {"alg": "ES256", "kid": "k1"}
    claims_variants: list[dict[str, Any]] = [
        {}, {"exp": 1}, {"exp": 4102444800}, {"nbf": 4102444800}, {"iat": 4102444800},
        {"iat": "12"}, {"iat": "x"}, {"iat": None}, {"aud": "x"}, {"aud": ""}, {"aud": []},
        {"sub": 1}, {"jti": 2}, {"iss": 3}, {"c": "x"}, {"c": None}, {"c": ["a"]},
        {"d": "2026-12-01"}, {"d": 20261201}, {"d": "20261301"}, {"d": "00001201"},
        {"d": "２０２６１２０１"}, {"d": "2026120"}, {"i": 123}, {"i": None}, {"p": None},
        {"p": "print", "k": None}, {"k": credential.b64url(flat)}, {"k": "AAAA"}, {"k": 5},
        {"k": credential.b64url(b"\x02" + b"\xff" * 32)}, {"k": "!" + credential.b64url(point)},
        {"x": "乗車券"},
    ]
    json_bytes = lambda value: credential.compact_json(value)  # noqa: E731
    codes = [_raw_jws(json_bytes(header), json_bytes({**base, **extra}), issuer)
             for extra in claims_variants]
    codes += [_raw_jws(json_bytes(h), json_bytes(base), issuer) for h in (
        {"alg": "ES256"}, {"alg": "ES256", "kid": 1}, {"alg": "ES384", "kid": "k1"},
        {"kid": "k1"}, {"alg": "", "kid": "k1"}, {**header, "crit": ["b64"]},
        {**header, "crit": []}, {**header, "crit": ["exp"], "exp": 1},
        {**header, "crit": ["b64"], "b64": True}, {**header, "typ": "JWT"},
        {**header, "b64": False})]
    codes += [
        _raw_jws(b"[]", json_bytes(base), issuer),
        _raw_jws(b"\xef\xbb\xbf" + json_bytes(header), json_bytes(base), issuer),
        _raw_jws(json_bytes(header), b"[1]", issuer),
        _raw_jws(json_bytes(header), b"\xff", issuer),
        _raw_jws(json_bytes({**header, "b64": False, "crit": ["b64"]}), b"", issuer,
                 (credential.b64url(json_bytes({**header, "b64": False, "crit": ["b64"]})), "")),
    ]
    good = _raw_jws(json_bytes(header), json_bytes(base), issuer)
    head, body, sig = good.split(".")
    codes += [f"{head}=.{body}.{sig}", f"{head}.{body}.{sig}==", f"{head}.{body}=.{sig}",
              f"{head[:-1]}{'B' if head[-1] == 'A' else 'A'}.{body}.{sig}", f"{head}.{body}",
              f"{head}.{body}.{sig}.x", f"{head}..{sig}"]
    shown = lambda token: credential.present(token, phone, now)  # noqa: E731
    payloads = [p for code in codes for p in (code, shown(code))]
    payloads += [shown(good).replace("~", "~!", 1), shown(good) + "=", " " + shown(good) + "\x1c",
                 shown(good)[:-2] + "~", shown(good).replace("~", "~~", 1)]
    return {"bundle": document, "now": now.isoformat(), "payloads": payloads}


def _mutated(payloads: list[str], rng: random.Random, count: int) -> list[str]:
    alphabet = "ABCabc012-_+/=.~ \t!"
    out = []
    for _ in range(count):
        chars = list(rng.choice(payloads))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(chars) + 1)
            edit = rng.random()
            if edit < 0.4 and chars:
                chars[min(at, len(chars) - 1)] = rng.choice(alphabet)
            elif edit < 0.7:
                chars.insert(at, rng.choice(alphabet))
            elif chars:
                del chars[min(at, len(chars) - 1)]
        out.append("".join(chars))
    return out


JUDGE_ALL = """async ({bundle, now, payloads}) => {
  const m = await import("/static/verify.js");
  const loaded = await m.loadBundle(bundle);
  const codes = [];
  for (const payload of payloads) {
    codes.push((await m.verify(payload, loaded, now, {operator: "hokutetsu", seen: {}})).code);
  }
  return codes;
}"""


def test_browser_and_python_verifiers_agree_on_odd_and_mutated_codes(
        page: Page, demo_server: RunningServer) -> None:
    page.goto(f"{demo_server.base_url}/driver")
    vectors = load()
    odd = _odd_codes()
    rng = random.Random(20261201)
    suites = [
        {"bundle": odd["bundle"], "now": odd["now"], "payloads": odd["payloads"]},
        {"bundle": vectors["bundle"], "now": vectors["cases"][0]["now"],
         "payloads": _mutated([c["payload"] for c in vectors["cases"] if c["payload"]], rng, 400)},
    ]
    for suite in suites:
        bundle = TrustBundle.from_document(suite["bundle"])
        now = dt.datetime.fromisoformat(suite["now"])
        expected = [verify(p, bundle, now, Context("hokutetsu")).code for p in suite["payloads"]]
        judged = page.evaluate(JUDGE_ALL, suite)
        mismatches = [f"{p!r}: browser {got}, Python {want}"
                      for p, got, want in zip(suite["payloads"], judged, expected, strict=True)
                      if got != want]
        assert mismatches == []
    assert len(set(expected)) > 3  # the mutations reach past the first checks
