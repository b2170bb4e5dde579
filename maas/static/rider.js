// The rider page (/app): account, purchase, passes, and the pass itself as a rotating QR code.
//
// On first show a pass is bound to this phone: a non-extractable P-256 key is made with
// WebCrypto and kept in IndexedDB, its public key (compressed point, base64url) goes to
// POST /api/v1/passes/{id}/device, and the reissued credential is kept beside the key. The code
// shown is `credential~time~signature` exactly as passes/credential.py present() makes it,
// renewed every ROTATE_MS, so a screenshot is useless within a minute. A service worker
// (/app/sw.js) keeps the page, the scripts and the QR encoder for use with no network.
import {
  $, ApiError, api as callApi, b64url, clearText, locale, useCatalogue, lowS, onLanguageChange, pick as say, setLabel,
  setText, setupLanguage,
} from "./common.js";
import translations from "./i18n.js";

useCatalogue(translations); // zh-Hans, zh-Hant and ko beside the Japanese and English here

const ROTATE_MS = 5000; // validators accept ±45 s; the design asks for a new code every ≤10 s
const QR_MODULE_PX = 4; // pixels per module at device scale 1 (version 15 is 77 modules)
const TOKYO = "Asia/Tokyo";
const TOKEN_KEY = "maas-rider-token";
const EMAIL_KEY = "maas-rider-email";
const SHOWN_KEY = "maas-rider-shown"; // the pass last shown, shown again on the next visit
const PURCHASE_KEY = "maas-rider-purchase"; // {key, body} of a purchase not yet answered
const CACHE = "maas-rider-v1"; // the service worker's cache (its API entries go at sign-out)

function relabel() { // common.js has rewritten the texts and labels; the pass screen's too
  if (current) renderPassText(current.record);
}

// ---- HTTP: JSON in, JSON out, problem+json `detail` as the error message (common.js)
const api = (path, options = {}) =>
  callApi(path, { ...options, token: localStorage.getItem(TOKEN_KEY) });
const offlineText = () => say("通信できません。電波の届く所でもう一度お試しください。",
  "No connection. Try again where you have signal.");
const errorText = (error) => (error instanceof ApiError ? error.message : offlineText());

// ---- the compressed P-256 point
function compressPoint(raw) { // 0x04 || X || Y  ->  (0x02 | Y odd) || X
  const point = new Uint8Array(33);
  point[0] = 0x02 | (raw[64] & 1);
  point.set(raw.subarray(1, 33), 1);
  return point;
}

// ---- IndexedDB: one record per pass {id, pass, keys, product} (CryptoKeyPair is storable)
function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open("maas-rider", 1);
    request.onupgradeneeded = () => request.result.createObjectStore("passes", { keyPath: "id" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}
async function store(mode, work) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const transaction = db.transaction("passes", mode);
      const request = work(transaction.objectStore("passes"));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
    });
  } finally {
    db.close();
  }
}
const loadRecord = (id) => store("readonly", (passes) => passes.get(id));
const saveRecord = (record) => store("readwrite", (passes) => passes.put(record));

// ---- binding: the key is stored before the server hears of it, so a lost answer loses nothing
async function publicKeyOf(record) {
  if (!record.keys) {
    record.keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false,
      ["sign", "verify"]);
    await saveRecord(record);
  }
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", record.keys.publicKey));
  return b64url(compressPoint(raw));
}

async function bind(record, action = "device") { // "device" binds, "move" moves it here
  if (action === "device" && record.pass.bound && record.boundKey) return record;
  const publicKey = await publicKeyOf(record);
  record.pass = await api(`/passes/${encodeURIComponent(record.id)}/${action}`,
    { method: "POST", body: { public_key: publicKey } });
  record.boundKey = publicKey;
  await saveRecord(record);
  return record;
}

/** RFC 7638 thumbprint of this phone's public key (what the pass document names). */
async function thumbprint(publicKey) {
  const jwk = await crypto.subtle.exportKey("jwk", publicKey);
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return b64url(new Uint8Array(await crypto.subtle.digest("SHA-256",
    new TextEncoder().encode(canonical))));
}

/** null: the pass is bound to no phone yet; true: to this one; false: to another phone. */
async function boundHere(record) {
  if (!record.pass.bound) return null;
  if (!record.keys) return false;
  const expected = record.pass.bound_key_thumbprint;
  if (!expected) return Boolean(record.boundKey); // a copy from before the server named it
  return (await thumbprint(record.keys.publicKey)) === expected;
}

const boundElsewhere = (error) => error instanceof ApiError
  && error.type.endsWith("pass-bound-elsewhere");

// ---- the presentation: credential~time~signature (passes/credential.py present())
async function present(record, seconds) {
  const time = new Uint8Array([seconds >>> 24, (seconds >>> 16) & 255, (seconds >>> 8) & 255,
    seconds & 255]);
  const message = record.pass.token + "~" + b64url(time);
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" },
    record.keys.privateKey, new TextEncoder().encode(message));
  // WebCrypto gives raw r || s with s at random; validators take only the low s (n - s)
  return message + "~" + b64url(lowS(signature));
}

let qrcode = null; // the self-hosted encoder, loaded when a pass is first shown
async function drawQr(canvas, text) {
  if (!qrcode) qrcode = (await import("./vendor/qrcode-generator/qrcode.mjs")).default;
  const code = qrcode(0, "M"); // smallest version that fits, error correction M
  code.addData(text, "Byte");
  code.make();
  const modules = code.getModuleCount();
  const quiet = 4;
  const scale = Math.max(1, Math.round(QR_MODULE_PX * (window.devicePixelRatio || 1)));
  const size = (modules + 2 * quiet) * scale;
  canvas.width = size;
  canvas.height = size;
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff";
  context.fillRect(0, 0, size, size);
  context.fillStyle = "#000";
  for (let row = 0; row < modules; row += 1) {
    for (let col = 0; col < modules; col += 1) {
      if (code.isDark(row, col)) {
        context.fillRect((col + quiet) * scale, (row + quiet) * scale, scale, scale);
      }
    }
  }
  canvas.dataset.version = String((modules - 17) / 4);
}

// ---- the pass screen
let current = null; // {record, timer, clockTimer}

function tokyoDate(iso) { // "YYYY-MM-DD" -> a Date at noon in Tokyo (safe for formatting)
  return new Date(iso + "T12:00:00+09:00");
}
function todayInTokyo() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: TOKYO }).format(new Date());
}

function renderPassText(record) {
  const { pass, product } = record;
  const adult = pass.category === "adult";
  setText($("pass-category"), adult ? "大人" : "小児", adult ? "Adult" : "Child");
  setText($("pass-product"), product ? product.name : pass.product,
    product ? product.name_en : pass.product);
  const day = tokyoDate(pass.service_date);
  clearText($("pass-date")); // a date, not a text: Intl writes it again in each language
  $("pass-date").textContent = new Intl.DateTimeFormat(locale(), { timeZone: TOKYO,
    dateStyle: "full" }).format(day);
  const band = $("pass-band");
  band.style.setProperty("--day-colour", pass.colour || "#9e9e9e");
  band.classList.toggle("unknown", !pass.colour);
  if (pass.colour) {
    setLabel(band, "今日の色 {colour}", "Colour of the day {colour}", { colour: pass.colour });
  } else {
    setLabel(band, "今日の色は前日から表示されます", "The colour is shown from the day before");
  }
  setLabel($("pass-qr"), "乗車券のQRコード（5秒ごとに更新）",
    "Pass QR code (renewed every 5 seconds)");
}

function tickClock() {
  const now = new Date();
  $("pass-clock").textContent = new Intl.DateTimeFormat(locale(),
    { timeZone: TOKYO, hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(now);
}

async function rotate() {
  if (!current) return;
  const record = current.record;
  const seconds = Math.floor(Date.now() / 1000);
  const canvas = $("pass-qr");
  await drawQr(canvas, await present(record, seconds));
  canvas.dataset.shownAt = String(seconds);
}

let wakeLock = null;
async function keepAwake() {
  const status = $("wake-status");
  if (!("wakeLock" in navigator)) {
    setText(status, "この端末では画面の自動消灯を止められません。消えたら画面に触れてください。",
      "This phone cannot keep the screen on by itself: touch it if it dims.");
    return;
  }
  try {
    wakeLock = await navigator.wakeLock.request("screen");
    setText(status, "表示中は画面が消えません。", "The screen stays on while the pass is shown.");
    wakeLock.addEventListener("release", () => { wakeLock = null; });
  } catch {
    setText(status, "画面が消えないよう設定してください。", "Keep the screen on while you show the pass.");
  }
}
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && current && !wakeLock) keepAwake();
  if (document.visibilityState === "visible") checkStillHere();
});

// A pass moved to another phone while this one shows it: as soon as the server says so (when
// the page comes back to the front, or every CHECK_MS), the move screen replaces the code.
const CHECK_MS = 60000;
async function checkStillHere() {
  if (!current || !navigator.onLine || !localStorage.getItem(TOKEN_KEY)) return;
  const { record } = current;
  const fresh = await api(`/passes/${encodeURIComponent(record.id)}`, { cache: "no-store" })
    .catch(() => null);
  if (!fresh || !current || current.record !== record || !fresh.bound_key_thumbprint) return;
  if (fresh.bound_key_thumbprint !== await thumbprint(record.keys.publicKey)) {
    await showPass(record.id); // reads the pass again and offers the move
  }
}

async function showPass(id) {
  const status = $("pass-status");
  let record = (await loadRecord(id).catch(() => undefined)) || { id };
  // the server's copy now, when there is a network: a move to another phone shows at once
  const fresh = navigator.onLine && localStorage.getItem(TOKEN_KEY)
    ? await api(`/passes/${encodeURIComponent(id)}`, { cache: "no-store" }).catch(() => null)
    : null;
  const listed = fresh || passesById.get(id);
  // the server's copy is the fresher one, unless it is a cached list from before the binding
  if (listed && (listed.bound || !record.pass || !record.pass.bound)) record.pass = listed;
  if (!record.pass) return;
  const product = productList.find((p) => p.code === record.pass.product);
  if (product) record.product = product;
  hidePass();
  $("pass-view").hidden = false;
  renderPassText(record);
  clearText(status);
  const here = await boundHere(record);
  if (here === false) { // another phone holds it: a clear screen, never a QR that fails
    offerMove(record);
    return;
  }
  if (here === null && !record.boundKey) {
    await ask("bind-notice", "bind-confirm"); // first show: say that it ties the pass here
  }
  try {
    record = await bind(record);
  } catch (error) {
    if (boundElsewhere(error)) {
      offerMove(record);
      return;
    }
    if (!record.pass.bound || !record.keys) {
      setText(status, "この端末では表示できません：{reason}",
        "Cannot show this pass on this phone: {reason}", { reason: errorText(error) });
      return;
    }
  }
  await startShowing(record);
}

/** Show one notice of the pass screen instead of the code until its button is pressed. */
function ask(noticeId, buttonId) {
  $("qr-frame").hidden = true;
  $(noticeId).hidden = false;
  return new Promise((resolve) => {
    $(buttonId).onclick = () => {
      $(noticeId).hidden = true;
      $("qr-frame").hidden = false;
      resolve();
    };
  });
}

async function offerMove(record) {
  const message = $("move-message");
  clearText(message);
  for (;;) {
    await ask("move-notice", "move-confirm");
    try {
      record = await bind(record, "move");
      break;
    } catch (error) {
      $("qr-frame").hidden = true;
      $("move-notice").hidden = false;
      if (error instanceof ApiError && error.status === 429) {
        setText(message, "今日はこれ以上移せません。{reason}",
          "This pass cannot be moved again today. {reason}", { reason: error.detail });
      } else {
        setText(message, errorText(error), errorText(error));
      }
      $("move-confirm").disabled = error instanceof ApiError && error.status === 429;
    }
  }
  await startShowing(record);
}

async function startShowing(record) {
  const status = $("pass-status");
  if (record.pass.status !== "valid") {
    setText(status, "この乗車券は無効です。", "This pass is no longer valid.");
  }
  await saveRecord(record);
  localStorage.setItem(SHOWN_KEY, record.id);
  current = { record, timer: setInterval(rotate, ROTATE_MS), clockTimer: setInterval(tickClock, 1000),
    checkTimer: setInterval(checkStillHere, CHECK_MS) };
  tickClock();
  try {
    await rotate();
  } catch (error) {
    setText(status, "QRコードを作れません（maas assets が必要です）：{reason}",
      "Cannot draw the QR code (run maas assets): {reason}", { reason: error.message });
  }
  keepAwake();
  $("pass-view").scrollIntoView();
}

function hidePass() {
  if (current) {
    clearInterval(current.timer);
    clearInterval(current.clockTimer);
    clearInterval(current.checkTimer);
  }
  current = null;
  $("pass-view").hidden = true;
  ["bind-notice", "move-notice"].forEach((id) => { $(id).hidden = true; });
  $("qr-frame").hidden = false;
  $("move-confirm").disabled = false;
  if (wakeLock) wakeLock.release().catch(() => {});
}

// ---- account
function showSignedIn() {
  const email = localStorage.getItem(EMAIL_KEY);
  const signedIn = Boolean(localStorage.getItem(TOKEN_KEY));
  $("auth-form").hidden = signedIn;
  $("signed-in").hidden = !signedIn;
  $("buy-form").hidden = !signedIn;
  $("passes-section").hidden = !signedIn;
  $("rider-email").textContent = email || "";
}

async function signIn(email, password, create) {
  if (create) await api("/riders", { method: "POST", body: { email, password } });
  const token = await api("/auth/token", { method: "POST", body: { email, password } });
  localStorage.setItem(TOKEN_KEY, token.access_token);
  localStorage.setItem(EMAIL_KEY, email);
}

async function signOut() {
  hidePass();
  await api("/auth/logout", { method: "POST" }).catch(() => {}); // the token stops working
  [TOKEN_KEY, EMAIL_KEY, SHOWN_KEY, PURCHASE_KEY].forEach((key) => localStorage.removeItem(key));
  if ("caches" in window) { // the rider's pass data leaves the cache; keys stay with their passes
    const cache = await caches.open(CACHE);
    for (const request of await cache.keys()) {
      if (new URL(request.url).pathname.startsWith("/api/v1/passes")) await cache.delete(request);
    }
  }
  showSignedIn();
}

// ---- products and purchase
let productList = [];
async function loadProducts() {
  productList = await api("/products").catch(() => productList);
  const select = $("buy-product");
  select.replaceChildren(...productList.map((p) => {
    const option = document.createElement("option");
    option.value = p.code;
    setText(option, p.name + " {price:yen}", p.name_en + " {price:yen}", { price: p.prices.adult });
    return option;
  }));
}

function purchaseKey(body) { // one Idempotency-Key per purchase attempt, kept across retries
  const text = JSON.stringify(body);
  const pending = JSON.parse(localStorage.getItem(PURCHASE_KEY) || "null");
  if (pending && pending.body === text) return pending.key;
  const key = crypto.randomUUID();
  localStorage.setItem(PURCHASE_KEY, JSON.stringify({ key, body: text }));
  return key;
}

async function buy(event) {
  event.preventDefault();
  const message = $("buy-message");
  const button = $("buy-button");
  const body = {
    product: $("buy-product").value,
    service_date: $("buy-date").value,
    category: $("buy-category").value,
    payment: { method: "sandbox", card_number: $("buy-card").value.replace(/[\s-]/g, "") },
  };
  button.disabled = true;
  setText(message, "購入しています…", "Buying…");
  try {
    const result = await api("/orders", { method: "POST", body,
      headers: { "Idempotency-Key": purchaseKey(body) } });
    localStorage.removeItem(PURCHASE_KEY); // answered: the next purchase is a new attempt
    const status = result.order.status;
    if (status === "paid") {
      setText(message, "購入しました（{price:yen}）。", "Bought ({price:yen}).",
        { price: result.order.amount_yen });
      await loadPasses();
      if (result.pass) await showPass(result.pass.id);
    } else if (status === "declined") {
      setText(message, "カードが承認されませんでした。別のカードをお使いください。",
        "The card was declined. Please use another card.");
    } else {
      setText(message, "支払いを確認しています。しばらくしてから乗車券の一覧をご覧ください。",
        "The payment is being confirmed. Check your passes in a moment.");
    }
  } catch (error) {
    if (error instanceof ApiError) localStorage.removeItem(PURCHASE_KEY);
    setText(message, errorText(error), errorText(error));
    if (error instanceof ApiError && error.status === 401) await signOut();
  } finally {
    button.disabled = false;
  }
}

// ---- the rider's passes
const passesById = new Map();
async function loadPasses() {
  const list = $("passes");
  let passes;
  try {
    passes = await api("/passes");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) await signOut();
    return;
  }
  passesById.clear();
  list.replaceChildren(...passes.map((pass) => {
    passesById.set(pass.id, pass);
    const item = document.createElement("li");
    item.dataset.passId = pass.id;
    const product = productList.find((p) => p.code === pass.product);
    const title = document.createElement("h3");
    setText(title, product ? product.name : pass.product, product ? product.name_en : pass.product);
    const detail = document.createElement("p");
    const adult = pass.category === "adult";
    const category = document.createElement("span");
    setText(category, adult ? "大人" : "小児", adult ? "Adult" : "Child");
    const valid = document.createElement("span");
    if (pass.status !== "valid") setText(valid, "無効", "not valid");
    detail.append(`${pass.service_date} · `, category, " ", valid);
    const show = document.createElement("button");
    show.type = "button";
    show.className = "show-pass";
    setText(show, "表示する", "Show");
    setLabel(show, "{date} の乗車券を表示する", "Show the pass for {date}", { date: pass.service_date });
    show.addEventListener("click", () => showPass(pass.id));
    item.append(title, detail, show);
    return item;
  }));
}

// ---- start
async function start() {
  setupLanguage();
  onLanguageChange(relabel);
  $("pass-close").addEventListener("click", () => {
    hidePass();
    localStorage.removeItem(SHOWN_KEY);
  });
  $("sign-out").addEventListener("click", signOut);
  $("buy-form").addEventListener("submit", buy);
  $("buy-date").value = todayInTokyo();
  $("auth-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const create = event.submitter && event.submitter.value === "sign-up";
    const message = $("auth-message");
    message.textContent = "";
    try {
      await signIn($("auth-email").value.trim(), $("auth-password").value, create);
      showSignedIn();
      await loadPasses();
    } catch (error) {
      setText(message, errorText(error), errorText(error));
    }
  });
  const sw = document.querySelector("script[data-sw]").dataset.sw;
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(sw, { scope: "/app" }).catch(() => {});
  }
  showSignedIn();
  await loadProducts();
  const shown = localStorage.getItem(SHOWN_KEY);
  if (localStorage.getItem(TOKEN_KEY)) await loadPasses();
  if (shown) { // the pass on screen last time comes back first, with or without a network
    const record = await loadRecord(shown).catch(() => undefined);
    const yesterday = new Date(Date.now() - 86400000);
    const oldest = new Intl.DateTimeFormat("en-CA", { timeZone: TOKYO }).format(yesterday);
    if (record && record.pass.service_date >= oldest) await showPass(shown);
  }
  document.body.dataset.riderReady = "true";
}

start();
