// The driver page (/driver): enrol once, scan, judge offline, journal, sync when online.
//
// State lives in IndexedDB ("maas-driver"): the device (id, operator, token, pinned bundle
// keys), the signed trust bundle and product names in "state"; every scan in "scans", written
// durably BEFORE its result is shown, with `pending: 1` until the server has acknowledged it.
// The service worker (/driver/sw.js) keeps the page, its scripts and the QR reader's wasm, so
// the page loads and judges with no network at all.
import {
  $, ApiError, clearText, lang, onLanguageChange, request, setText as say, setupLanguage,
} from "./common.js";
import { MESSAGES, openBundle, peekPassId, scanDigest, verify } from "./verify.js";

const DB_NAME = "maas-driver";
const BATCH = 500; // scans per upload (the server takes up to 1000)
const SYNC_EVERY_MS = 60_000;
const KEEP_MS = 3 * 86_400_000; // uploaded scans stay on the device this long
const POSITION_MAX_AGE_MS = 120_000; // an older GPS fix is not where the scan happened
// the same code — or the same pass, whose code rotates every few seconds — in front of the
// camera is one scan, not a replay
const CAMERA_REPEAT_MS = 8_000;
const WASM_URL = "/static/vendor/zxing-wasm/zxing_reader.wasm";
const PONYFILL_URL = "/static/vendor/barcode-detector/es/ponyfill.js";
const TOKYO_OFFSET_MS = 9 * 3600_000;

const state = { device: null, bundle: null, products: {}, position: null };

// ---------------------------------------------------------------- language and time

/** ISO 8601 in Asia/Tokyo with its offset, e.g. 2026-12-01T09:03:00.123+09:00. */
const tokyoIso = (ms) => new Date(ms + TOKYO_OFFSET_MS).toISOString().replace("Z", "+09:00");
const tokyoDate = (ms) => tokyoIso(ms).slice(0, 10);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- IndexedDB

let dbPromise = null;
function db() {
  dbPromise ??= new Promise((resolve, reject) => {
    const opening = indexedDB.open(DB_NAME, 2);
    opening.onupgradeneeded = (event) => {
      const database = opening.result;
      if (event.oldVersion < 1) {
        database.createObjectStore("state");
        const scans = database.createObjectStore("scans", { keyPath: "id" });
        scans.createIndex("digest", "digest"); // the replay key of every scan
        scans.createIndex("pending", "pending"); // only scans not yet acknowledged by the server
        scans.createIndex("scanned_ms", "scanned_ms");
      }
      // version 2: the same pass again on this device within minutes is a replay
      if (event.oldVersion < 2) opening.transaction.objectStore("scans").createIndex("pass_id", "pass_id");
    };
    opening.onsuccess = () => resolve(opening.result);
    opening.onerror = () => reject(opening.error);
  });
  return dbPromise;
}

/** Run `work(stores)` in one transaction; resolves with its result once durably committed. */
async function tx(names, mode, work) {
  const database = await db();
  return new Promise((resolve, reject) => {
    const t = database.transaction(names, mode, { durability: "strict" });
    const stores = Object.fromEntries([names].flat().map((n) => [n, t.objectStore(n)]));
    let result;
    Promise.resolve(work(stores)).then((value) => { result = value; }, (error) => {
      reject(error);
      try { t.abort(); } catch { /* already finished */ }
    });
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error("transaction aborted"));
  });
}
const req = (request) => new Promise((resolve, reject) => {
  request.onsuccess = () => resolve(request.result);
  request.onerror = () => reject(request.error);
});
const getState = (key) => tx("state", "readonly", (s) => req(s.state.get(key)));
const putState = (key, value) => tx("state", "readwrite", (s) => { s.state.put(value, key); });

// ---------------------------------------------------------------- the journal

/** When this device last accepted a scan with this value in `index` ("digest": the replay
 * key of what a code says; "pass_id"), or null. */
async function lastAccepted(index, value) {
  const rows = (await tx("scans", "readonly", (s) => req(s.scans.index(index).getAll(value))))
    .filter((row) => row.result === "accept");
  return rows.length ? Math.max(...rows.map((row) => row.scanned_ms)) : null;
}

const addScan = (entry) => tx("scans", "readwrite", (s) => { s.scans.add(entry); });

const pendingCount = () => tx("scans", "readonly", (s) => req(s.scans.index("pending").count()));

const pendingBatch = () => tx("scans", "readonly",
  (s) => req(s.scans.index("pending").getAll(IDBKeyRange.only(1), BATCH)));

function markUploaded(ids, at) {
  return tx("scans", "readwrite", async (s) => {
    for (const id of ids) {
      const row = await req(s.scans.get(id));
      if (row) {
        delete row.pending;
        delete row.payload; // the server keeps the code as evidence; replays need only the digest
        row.uploaded_at = at;
        s.scans.put(row);
      }
    }
  });
}

/** Drop uploaded scans older than KEEP_MS: replays only matter within minutes, and the
 * server has them. Scans not yet uploaded are never dropped. */
function pruneUploaded(now) {
  return tx("scans", "readwrite", (s) => new Promise((resolve, reject) => {
    const cursor = s.scans.index("scanned_ms").openCursor(IDBKeyRange.upperBound(now - KEEP_MS));
    cursor.onsuccess = () => {
      const row = cursor.result;
      if (!row) return resolve();
      if (!row.value.pending) row.delete();
      row.continue();
    };
    cursor.onerror = () => reject(cursor.error);
  }));
}

/** Every journaled scan, newest first (for support staff and tests). */
const allScans = () => tx("scans", "readonly", (s) => req(s.scans.index("scanned_ms").getAll()))
  .then((rows) => rows.reverse());

/** What POST /scans takes: exactly the schema's fields (it refuses others). */
const uploadItem = (row) => ({
  id: row.id, result: row.result, code: row.code, payload: row.payload ?? null,
  digest: row.digest, pass_id: row.pass_id,
  product: row.product, category: row.category, service_date: row.service_date,
  scanned_at: row.scanned_at, lat: row.lat ?? null, lon: row.lon ?? null,
});

// ---------------------------------------------------------------- judging

const MARKS = { accept: "✓", reject: "✕", cannot_judge: "?" };
const HEADLINES = {
  accept: ["乗車OK", "OK to board"],
  reject: ["乗車できません", "Not valid"],
  cannot_judge: ["判定できません", "Cannot judge"],
};
const CATEGORY = { adult: ["大人", "Adult"], child: ["小児", "Child"] };

let queue = Promise.resolve();
/** Judge one scanned text; scans are judged one after another so a replay is always seen. */
function judge(text, source = "manual") {
  const run = queue.then(() => judgeNow(text, source));
  queue = run.catch(() => {});
  return run;
}

async function judgeNow(text, source) {
  const started = performance.now();
  const now = Date.now();
  const verdict = await verify(text, state.bundle, now, {
    operator: state.device ? state.device.operator : "",
    seen: (key) => lastAccepted("digest", key),
    passes: (passId) => lastAccepted("pass_id", passId),
  });
  const digest = await scanDigest(text, verdict);
  const fix = state.position && now - state.position.at <= POSITION_MAX_AGE_MS ? state.position : null;
  const read = String(text).slice(0, 2048); // as POST /scans takes it
  const entry = {
    // every scan carries the replay key of what its code says (or of its text if unreadable),
    // as the Python device and server record it
    id: crypto.randomUUID(), digest, result: verdict.result,
    // the code itself: the server verifies it again and counts only what it confirms
    payload: read.toWellFormed ? read.toWellFormed() : read,
    code: verdict.code, pass_id: verdict.pass_id, product: verdict.product,
    category: verdict.category, service_date: verdict.service_date,
    scanned_at: tokyoIso(now), lat: fix ? fix.lat : null, lon: fix ? fix.lon : null,
    scanned_ms: now, source, pending: 1,
  };
  try {
    await addScan(entry); // durable before anyone sees the verdict
  } catch (error) {
    showProblem("記録できません: この読取は無効です", "Cannot record the scan: not judged", error);
    throw error;
  }
  showVerdict(verdict);
  // from the text read to the verdict on screen: verification and the durable journal write
  $("result").dataset.judgedMs = (performance.now() - started).toFixed(1);
  renderStatus(); // the bundle's age and the day's colour move on with the clock
  renderJournal();
  scheduleSync(1500);
  return { ...verdict, scan_id: entry.id };
}

function productName(code) {
  const product = state.products[code];
  return product ? [product.name, product.name_en || product.name] : [code, code];
}

function showVerdict(v) {
  const box = $("result");
  box.className = `result ${v.result}`;
  box.dataset.state = v.result;
  box.dataset.code = v.code;
  box.querySelector(".verdict-mark").textContent = MARKS[v.result];
  say(box.querySelector(".verdict"), ...HEADLINES[v.result]);
  box.querySelector(".reason-ja").textContent = MESSAGES[v.code][0];
  box.querySelector(".reason-en").textContent = MESSAGES[v.code][1];
  const category = box.querySelector(".pass-category");
  const product = box.querySelector(".pass-product");
  const date = box.querySelector(".pass-date");
  // a verdict without a pass (junk, a bad signature) forgets the previous pass's texts too:
  // clearText drops their data-ja/data-en, which a switch of language would otherwise restore
  if (v.category) say(category, ...CATEGORY[v.category]); else clearText(category);
  if (v.product) say(product, ...productName(v.product)); else clearText(product);
  date.textContent = v.service_date || "";
  const colour = state.bundle && state.bundle.colours[v.service_date || tokyoDate(Date.now())];
  box.style.setProperty("--day-colour", colour || "transparent");
  box.querySelector(".day-band").hidden = !colour;
  if (navigator.vibrate) navigator.vibrate(v.result === "accept" ? 80 : [60, 60, 60]);
}

function showProblem(ja, en, error) {
  const box = $("result");
  box.className = "result cannot_judge";
  box.dataset.state = "error";
  box.querySelector(".verdict-mark").textContent = "!";
  say(box.querySelector(".verdict"), ja, en);
  box.querySelector(".reason-ja").textContent = "";
  box.querySelector(".reason-en").textContent = error ? String(error.message || error) : "";
  [".pass-category", ".pass-product", ".pass-date"].forEach((s) => clearText(box.querySelector(s)));
  box.querySelector(".day-band").hidden = true;
}

async function renderJournal() {
  const rows = (await allScans()).slice(0, 10);
  $("journal").replaceChildren(...rows.map((row) => {
    const item = document.createElement("li");
    item.className = row.result;
    item.dataset.code = row.code;
    const time = row.scanned_at.slice(11, 19);
    const mark = MARKS[row.result];
    const what = row.product ? ` · ${productName(row.product)[lang() === "en" ? 1 : 0]}` : "";
    item.textContent = `${time} ${mark} ${MESSAGES[row.code][lang() === "en" ? 1 : 0]}${what}`
      + (row.pending ? "\u00a0⇡" : ""); // not yet uploaded
    return item;
  }));
  const pending = await pendingCount();
  $("status-pending").textContent = String(pending);
}

// ---------------------------------------------------------------- reading QR codes

let readerPromise = null;
/** The native BarcodeDetector where it reads QR codes, otherwise the zxing-wasm ponyfill with
 * its wasm from this server (it would fetch it from a CDN by default). */
function reader() {
  readerPromise ??= (async () => {
    if ("BarcodeDetector" in globalThis) {
      try {
        const formats = await globalThis.BarcodeDetector.getSupportedFormats();
        if (formats.includes("qr_code")) {
          return { kind: "native", detector: new globalThis.BarcodeDetector({ formats: ["qr_code"] }) };
        }
      } catch { /* fall through to the ponyfill */ }
    }
    const ponyfill = await import(PONYFILL_URL);
    ponyfill.setZXingModuleOverrides({
      locateFile: (path, prefix) => (path.endsWith(".wasm") ? WASM_URL : prefix + path),
    });
    return { kind: "zxing-wasm", detector: new ponyfill.BarcodeDetector({ formats: ["qr_code"] }) };
  })();
  readerPromise.then((r) => { $("status-reader").textContent = r.kind; },
    () => { readerPromise = null; });
  return readerPromise;
}

async function readImage(file) {
  const { detector } = await reader();
  const bitmap = await createImageBitmap(file);
  try {
    const codes = await detector.detect(bitmap);
    if (!codes.length) {
      showProblem("QRコードが見つかりません", "No QR code found in the image");
      return null;
    }
    return judge(codes[0].rawValue, "image");
  } finally {
    bitmap.close();
  }
}

let camera = null;
const recentlySeen = new Map(); // text, or pass id, → when the camera last read it

async function startCamera() {
  const { detector } = await reader();
  const stream = await navigator.mediaDevices.getUserMedia(
    { video: { facingMode: { ideal: "environment" } }, audio: false });
  const video = $("camera");
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  camera = { stream, running: true };
  $("camera-start").hidden = true;
  $("camera-stop").hidden = false;
  const session = camera;
  while (session.running) {
    if (video.readyState >= 2) {
      try {
        for (const code of await detector.detect(video)) {
          const now = Date.now();
          // the pass id is read unverified, only to leave alone a phone still held up
          const passId = peekPassId(code.rawValue);
          const keys = passId === null ? [code.rawValue] : [code.rawValue, `pass:${passId}`];
          if (keys.some((key) => (recentlySeen.get(key) ?? 0) > now - CAMERA_REPEAT_MS)) continue;
          keys.forEach((key) => recentlySeen.set(key, now));
          for (const [key, at] of recentlySeen) if (at < now - CAMERA_REPEAT_MS) recentlySeen.delete(key);
          await judge(code.rawValue, "camera");
        }
      } catch (error) {
        console.warn("detect failed", error);
      }
    }
    await sleep(150);
  }
}

function stopCamera() {
  if (!camera) return;
  camera.running = false;
  camera.stream.getTracks().forEach((track) => track.stop());
  camera = null;
  $("camera").hidden = true;
  $("camera-start").hidden = false;
  $("camera-stop").hidden = true;
}

// ---------------------------------------------------------------- server: enrol and sync

/** An API request with the device token (unless `device: false`), never from the HTTP cache. */
function call(path, { device = true, ...options } = {}) {
  return request(path, { ...options, cache: "no-store",
    token: device && state.device ? state.device.token : null });
}

async function enrol(code) {
  const { body } = await call("/devices/enroll", { method: "POST", body: { code }, device: false });
  const device = { device_id: body.device_id, operator: body.operator, token: body.token,
    bundle_keys: body.bundle_keys, enrolled_at: tokyoIso(Date.now()) };
  await putState("device", device);
  state.device = device;
}

async function uploadPending() {
  let uploaded = 0, duplicates = 0;
  for (;;) {
    const rows = await pendingBatch();
    if (!rows.length) break;
    const { body } = await call("/scans", { method: "POST", body: { scans: rows.map(uploadItem) } });
    await markUploaded(rows.map((r) => r.id), tokyoIso(Date.now())); // only after a 2xx
    uploaded += body.accepted;
    duplicates += body.duplicates;
    if (rows.length < BATCH) break;
  }
  return { uploaded, duplicates };
}

async function refreshBundle() {
  const headers = {};
  // a 304 does not renew issued_at: well before max_age, fetch a freshly signed copy
  if (state.bundle && Date.now() - state.bundle.issuedAt < state.bundle.maxAge / 3) {
    headers["If-None-Match"] = `"${state.bundle.version}"`;
  }
  const { status, body } = await call("/validators/bundle", { headers });
  if (status === 304) return false;
  const bundle = await openBundle(body.bundle, state.device.bundle_keys);
  await putState("bundle", { jws: body.bundle, version: bundle.version });
  state.bundle = bundle;
  renderStatus();
  return true;
}

async function refreshProducts() {
  const { body } = await call("/products", { device: false });
  state.products = Object.fromEntries(body.map((p) => [p.code, p]));
  await putState("products", state.products);
}

let failures = 0;
let syncTimer = null;
let syncing = null;
function scheduleSync(ms) {
  clearTimeout(syncTimer);
  syncTimer = setTimeout(() => { syncNow().catch(() => {}); }, ms);
}

/** Upload the journal, then refresh the bundle; on failure retry with backoff. */
function syncNow() {
  syncing ??= (async () => {
    if (!state.device) return null;
    try {
      const outcome = await uploadPending();
      const bundleChanged = await refreshBundle();
      await refreshProducts().catch(() => {});
      await pruneUploaded(Date.now());
      failures = 0;
      $("enrol").hidden = true; // (shown again only while the token is refused)
      say($("status-sync"), `同期済み ${tokyoIso(Date.now()).slice(11, 19)}`,
        `synced ${tokyoIso(Date.now()).slice(11, 19)}`);
      // a scan journaled while this sync ran goes up soon, not at the next periodic sync
      scheduleSync((await pendingCount()) ? 1500 : SYNC_EVERY_MS);
      return { ...outcome, bundle_changed: bundleChanged, bundle_version: state.bundle.version };
    } catch (error) {
      failures += 1;
      const delay = Math.min(300_000, 2000 * 2 ** (failures - 1)) * (0.75 + Math.random() / 2);
      const offline = !navigator.onLine || error instanceof TypeError;
      const reason = error instanceof ApiError
        ? `${error.status}${error.detail ? ": " + error.detail : ""}` : error.message;
      say($("status-sync"), offline ? "オフライン(後で送信します)" : `同期エラー ${reason}`,
        offline ? "offline (will upload later)" : `sync error ${reason}`);
      if (error.status === 401) {
        // the device was revoked or re-registered: it keeps judging and journaling, and a new
        // enrolment code lets the journal go up again
        showProblem("端末の登録が無効です。再登録してください", "Device token no longer valid: enrol again");
        $("enrol").hidden = false;
      }
      scheduleSync(delay);
      throw error;
    } finally {
      renderStatus();
      renderJournal();
    }
  })().finally(() => { syncing = null; });
  return syncing;
}

// ---------------------------------------------------------------- page

function renderStatus() {
  const device = state.device;
  $("status-device").textContent = device ? device.device_id.slice(0, 8) : "—";
  $("status-operator").textContent = device ? device.operator : "—";
  const bundle = state.bundle;
  if (bundle) {
    const hours = Math.floor((Date.now() - bundle.issuedAt) / 3600_000);
    say($("status-bundle"), `${bundle.version}(${hours}時間前)`, `${bundle.version} (${hours} h old)`);
  } else {
    say($("status-bundle"), "なし", "none");
  }
  const colour = bundle && bundle.colours[tokyoDate(Date.now())];
  const swatch = $("day-swatch");
  swatch.style.background = colour || "transparent";
  swatch.setAttribute("aria-label", colour || "—");
  swatch.dataset.colour = colour || "";
}

/** Follow the phone's position (if the driver allows it): the server's fraud checks compare
 * where and when one pass was scanned. Without a fix, scans go without a position. */
let watching = false;
function watchPosition() {
  if (watching || !("geolocation" in navigator)) return;
  watching = true;
  const round = (degrees) => Math.round(degrees * 1e5) / 1e5; // about 1 m
  navigator.geolocation.watchPosition(
    (p) => { state.position = { lat: round(p.coords.latitude), lon: round(p.coords.longitude), at: Date.now() }; },
    () => { state.position = null; },
    { enableHighAccuracy: true, maximumAge: 30_000, timeout: 60_000 });
}

function showScanner() {
  $("enrol").hidden = true;
  $("scanner").hidden = false;
  const box = $("result");
  if (box.dataset.state === "idle") {
    say(box.querySelector(".verdict"), "QRコードを読み取ってください", "Scan a pass QR code");
  }
  renderStatus();
  renderJournal();
  watchPosition();
}

async function start() {
  const [device, stored, products] = await Promise.all(
    [getState("device"), getState("bundle"), getState("products")]);
  state.products = products || {};
  if (device) {
    state.device = device;
    if (stored) {
      try {
        state.bundle = await openBundle(stored.jws, device.bundle_keys, Date.now(), { allowStale: true });
      } catch (error) {
        console.warn("stored bundle refused", error);
      }
    }
    showScanner();
    syncNow().catch(() => {});
  } else {
    $("enrol").hidden = false;
  }
}

$("enrol").addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = $("enrol-message");
  message.textContent = "";
  try {
    await enrol($("enrol-code").value.trim());
    showScanner();
    if (syncing) await syncing.catch(() => {}); // one under way still had the old token
    await syncNow();
  } catch (error) {
    message.textContent = error.status === 401 || error.status === 404
      ? (lang() === "en" ? "This code is not valid or already used." : "登録コードが無効か、使用済みです。")
      : String(error.message || error);
  }
});
$("manual").addEventListener("submit", (event) => {
  event.preventDefault();
  // a keyboard-wedge scanner ends with Enter: that one line break is not part of the code (as
  // `maas-validator check --stdin` drops it); the verifier takes no whitespace anywhere
  const text = $("code-text").value.replace(/\r?\n$/, "");
  judge(text, "manual").then(() => { $("code-text").value = ""; }, () => {});
});
$("scan-image").addEventListener("change", async (event) => {
  const [file] = event.target.files;
  event.target.value = "";
  if (!file) return;
  try {
    await readImage(file);
  } catch (error) {
    showProblem("画像を読み取れません", "Cannot read the image", error);
  }
});
$("camera-start").addEventListener("click", () => {
  startCamera().catch((error) => {
    stopCamera();
    showProblem("カメラを使えません", "Camera not available", error);
  });
});
$("camera-stop").addEventListener("click", stopCamera);
window.addEventListener("online", () => { failures = 0; syncNow().catch(() => {}); });
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state.device) syncNow().catch(() => {});
});
setupLanguage();
onLanguageChange(() => { renderJournal(); });

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/driver/sw.js", { scope: "/driver" })
    .catch((error) => console.warn("service worker not registered", error));
}

const ready = start();
// for support staff (console) and the browser tests
window.maasDriver = { ready, judge, syncNow, allScans, readImage, reader, state };
