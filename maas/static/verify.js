// The browser verifier of the driver page: validators/verify.py's rules, in WebCrypto.
//
// Pure: no storage, no DOM. The checks run in the same order as the Python verifier and stop
// at the first failure: bundle present and fresh → code in its one canonical form → issuing
// key known and valid for the service date → credential signature → deny-list (pass ids, then
// credential ids withdrawn by a move to another phone) → product known
// and covering this operator → service date window → static or rotating (phone signature,
// ±45 s window) → replay on this device (the same code by its content, or the same pass within
// the same-device window). Both verifiers read the shared vectors in
// tests/data/verify-vectors.json and must give the same code on every one.
//
// The result codes, their messages, the windows and the size limits are not written here:
// they come from verify-contract.json, which `python -m validators.contract` generates from
// validators/verify.py (the driver page's service worker keeps it for offline use).
import { P256_HALF_ORDER, P256_ORDER, b64url, bigEndian, unb64url } from "./common.js";

const CONTRACT_URL = new URL("./verify-contract.json", import.meta.url);
export const CONTRACT = await fetch(CONTRACT_URL).then((response) => {
  if (!response.ok) throw new Error(`${CONTRACT_URL}: ${response.status}`);
  return response.json();
});

export const WINDOW_MS = CONTRACT.window_s * 1000;
export const STATIC_REPLAY_MS = CONTRACT.static_replay_s * 1000;
export const SAME_DEVICE_MS = CONTRACT.same_device_s * 1000;
export const MAX_PAYLOAD = CONTRACT.max_payload;
/** code → [Japanese, English] */
export const MESSAGES = Object.fromEntries(
  Object.entries(CONTRACT.messages).map(([code, text]) => [code, [text.ja, text.en]]));
const ALGORITHM = CONTRACT.algorithm;
const ACCEPT_CODES = new Set(CONTRACT.accept_codes);
const CANNOT_JUDGE_CODES = new Set(CONTRACT.cannot_judge_codes);
const CATEGORY_NAMES = CONTRACT.categories;
const CLAIM_ORDERS = CONTRACT.claim_orders;
const TOKYO_OFFSET_MS = 9 * 3600_000; // Asia/Tokyo has had no daylight saving time since 1951
const DAY_MS = 86_400_000;

/** "accept", "reject" or "cannot_judge" for a result code. */
export function resultOf(code) {
  if (ACCEPT_CODES.has(code)) return "accept";
  return CANNOT_JUDGE_CODES.has(code) ? "cannot_judge" : "reject";
}

class CredentialError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
const malformed = (message) => new CredentialError("malformed", message);

// ---------------------------------------------------------------- bytes and digests

const NOT_ASCII = /[\u0080-\uffff]/; // any UTF-16 unit outside ASCII
const PRINTABLE = /^[\x20-\x7e]*$/;
const ENCODER = new TextEncoder();

/** Strict base64url (common.js) with the verifier's error. */
function decode(text, what) {
  try {
    return unb64url(text);
  } catch {
    throw malformed(`${what} is not strict base64url`);
  }
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** The first 32 hex characters of SHA-256 of a text (validators.verify.digest). */
export async function digest(text) {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", ENCODER.encode(text)));
  return Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("").slice(0, 32);
}

/** What a code says, as a short digest: the pass id, and the presentation time (Unix
 * seconds) of a rotating code (`shownAt` in ms, or null for a printed code). Every accepted
 * form of one code has the same key (validators.verify.replay_key). */
export function replayKey(passId, shownAt) {
  return digest(shownAt === null ? passId : `${passId}~${shownAt / 1000}`);
}

/** What a journal records for a scan: the verdict's replay key when the code could be read,
 * else a digest of the text as scanned (validators.verify.scan_digest). */
export async function scanDigest(payload, verdict) {
  return verdict.replay_key ?? digest(payload);
}

/** The pass id a code claims, unverified (or null): the camera uses it only to leave a pass
 * it has just judged alone while the phone stays in view. Never a verdict. */
export function peekPassId(payload) {
  try {
    const claims = JSON.parse(new TextDecoder().decode(
      unb64url(payload.split("~")[0].split(".")[1])));
    return typeof claims.i === "string" ? claims.i : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- P-256 keys and signatures

const P = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

function modPow(base, exponent, modulus) {
  let result = 1n;
  base %= modulus;
  while (exponent > 0n) {
    if (exponent & 1n) result = (result * base) % modulus;
    base = (base * base) % modulus;
    exponent >>= 1n;
  }
  return result;
}

const curveRhs = (x) => (((x * x * x - 3n * x + B) % P) + P) % P;
const coordinate = (n) => {
  const bytes = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) { bytes[i] = Number(n & 0xffn); n >>= 8n; }
  return b64url(bytes);
};

/** The point of an X9.62 encoding (compressed or not) as a JWK; throws if off the curve.
 * Browsers do not all import compressed points, so the square root is taken here
 * (P ≡ 3 mod 4: y = rhs^((P+1)/4)). */
export function pointJwk(bytes) {
  let x, y;
  if (bytes.length === 33 && (bytes[0] === 2 || bytes[0] === 3)) {
    x = bigEndian(bytes.subarray(1));
    if (x >= P) throw malformed("point not on the curve");
    const rhs = curveRhs(x);
    y = modPow(rhs, (P + 1n) / 4n, P);
    if ((y * y) % P !== rhs) throw malformed("point not on the curve");
    if (Number(y & 1n) !== (bytes[0] & 1)) y = (P - y) % P;
  } else if (bytes.length === 65 && bytes[0] === 4) {
    x = bigEndian(bytes.subarray(1, 33));
    y = bigEndian(bytes.subarray(33));
    if (x >= P || y >= P || (y * y) % P !== curveRhs(x)) throw malformed("point not on the curve");
  } else {
    throw malformed("not a P-256 point");
  }
  return { kty: "EC", crv: "P-256", x: coordinate(x), y: coordinate(y), ext: true };
}

const ECDSA = { name: "ECDSA", hash: "SHA-256" };

/** A P-256 public JWK as a WebCrypto verification key. */
export function importJwk(jwk) {
  return crypto.subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, ext: true },
    { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
}

async function ecdsaVerify(key, signature, message) {
  try {
    return await crypto.subtle.verify(ECDSA, key, signature, ENCODER.encode(message));
  } catch {
    return false;
  }
}

/** 64 bytes, 0 < r < n, 0 < s <= n/2 (passes.credential.check_signature_form): WebCrypto
 * verifies (r, n - s) too, but that is a second spelling of one signature. */
function checkSignatureForm(signature) {
  if (signature.length !== 64) throw malformed("a signature is 64 bytes");
  const r = bigEndian(signature.subarray(0, 32));
  const s = bigEndian(signature.subarray(32));
  if (!(r > 0n && r < P256_ORDER && s > 0n && s <= P256_HALF_ORDER)) {
    throw malformed("signature not in low-s form");
  }
}

const phoneKeys = new Map(); // compressed point text → CryptoKey (a bus sees the same riders)

async function phoneKey(text) {
  let key = phoneKeys.get(text);
  if (!key) {
    const point = decode(text, "phone key");
    if (point.length !== 33) throw malformed("the phone key is a compressed point");
    key = await importJwk(pointJwk(point)).catch(() => { throw malformed("not a P-256 key"); });
    if (phoneKeys.size > 500) phoneKeys.clear();
    phoneKeys.set(text, key);
  }
  return key;
}

// ---------------------------------------------------------------- the credential

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
// ignoreBOM: a byte-order mark stays in the text, and JSON.parse refuses it, as Python does
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function jsonObject(bytes, what) {
  let value;
  try {
    value = JSON.parse(UTF8.decode(bytes));
  } catch {
    throw malformed(`${what} is not JSON`);
  }
  if (!isObject(value)) throw malformed(`${what} is not a JSON object`);
  return value;
}

function isoDate(digits) {
  // "YYYYMMDD" → "YYYY-MM-DD" when it is a real date (year 1 or later), else null
  if (!/^[0-9]{8}$/.test(digits)) return null;
  const [y, m, d] = [Number(digits.slice(0, 4)), Number(digits.slice(4, 6)), Number(digits.slice(6))];
  const probe = new Date(0);
  probe.setUTCFullYear(y, m - 1, d);
  if (y < 1 || probe.getUTCFullYear() !== y || probe.getUTCMonth() !== m - 1
      || probe.getUTCDate() !== d) return null;
  return `${digits.slice(0, 4)}-${digits.slice(4, 6)}-${digits.slice(6)}`;
}

/** passes.credential.verify, step for step: the pass claims of a credential signed by a
 * bundle key, in its one canonical form. */
async function credentialClaims(token, bundle) {
  const segments = token.split(".");
  if (segments.length !== 3) throw malformed("not a JWT");
  const [headerBytes, claimsBytes, signature] = segments.map((part) => decode(part, "a JWT segment"));
  const header = jsonObject(headerBytes, "header");
  if (has(header, "kid") && typeof header.kid !== "string") throw malformed("kid is not a string");
  const kid = has(header, "kid") ? header.kid : undefined;
  if (typeof kid !== "string" || !bundle.cryptoKeys.has(kid)) {
    throw new CredentialError("unknown_key", `unknown signing key ${kid}`);
  }
  if (!has(header, "alg") || header.alg !== ALGORITHM) {
    throw new CredentialError("bad_signature", "algorithm not allowed");
  }
  // PyJWT writes the header with sorted keys (alg, kid), no spaces
  if (!sameBytes(headerBytes, ENCODER.encode(JSON.stringify({ alg: ALGORITHM, kid })))) {
    throw malformed("header not in its canonical form");
  }
  const claims = jsonObject(claimsBytes, "claims");
  const names = Object.keys(claims);
  const values = Object.values(claims);
  if (!CLAIM_ORDERS.some((order) => order.length === names.length && order.every((n, i) => n === names[i]))
      || !values.every((v) => typeof v === "string" && PRINTABLE.test(v))
      // printable ASCII strings: JSON.stringify writes exactly what Python's json.dumps does
      || !sameBytes(claimsBytes, ENCODER.encode(JSON.stringify(claims)))) {
    throw malformed("claims not in their canonical form");
  }
  checkSignatureForm(signature);
  const signingInput = `${segments[0]}.${segments[1]}`;
  if (!(await ecdsaVerify(bundle.cryptoKeys.get(kid), signature, signingInput))) {
    throw new CredentialError("bad_signature", "signature does not verify");
  }
  const category = has(CATEGORY_NAMES, claims.c) ? CATEGORY_NAMES[claims.c] : null;
  const serviceDate = isoDate(claims.d);
  if (category === null || serviceDate === null) throw malformed("claims are not a pass");
  const deviceKey = has(claims, "k") ? await phoneKey(claims.k) : null;
  const notAfter = bundle.notAfter.get(kid);
  if (notAfter && serviceDate > notAfter) {
    // a retired key signs nothing new: a later date under it is a forgery or a leak
    throw new CredentialError("unknown_key", `key ${kid} retired before ${serviceDate}`);
  }
  return { passId: claims.i, product: claims.p, category, serviceDate, deviceKey };
}

// ---------------------------------------------------------------- presentation

/** passes.credential.parse_presentation: the text exactly as read (no whitespace anywhere),
 * the time and the phone's signature strict base64url of 4 and 64 bytes, the signature low-s. */
function parsePresentation(payload) {
  const parts = payload.split("~");
  if (parts.length === 1) return { credential: parts[0], shownAt: null, signature: null, timeText: "" };
  if (parts.length !== 3) throw malformed("not a pass code");
  if (parts[1].length !== CONTRACT.time_chars || parts[2].length !== CONTRACT.signature_chars) {
    throw malformed("presentation has the wrong length");
  }
  const time = decode(parts[1], "the time");
  const signature = decode(parts[2], "the phone's signature");
  checkSignatureForm(signature);
  return { credential: parts[0], shownAt: Number(bigEndian(time)) * 1000, signature, timeText: parts[1] };
}

// ---------------------------------------------------------------- the trust bundle

/** The segments of a compact JWS as PyJWT 2.15 decodes them (the trust bundle is signed by
 * the server's pinned bundle key and opened by PyJWT in Python): url-safe alphabet only, at
 * most two '=' of padding on a whole quad, unused trailing bits zero. */
function jwsSegment(segment) {
  const stripped = segment.replace(/={1,2}$/, "");
  if (stripped !== segment && segment.length % 4 !== 0) throw malformed("Invalid padding");
  return decode(stripped, "a JWS segment");
}

/** Verify a compact JWS with the key its kid names (ES256 only); returns the claims. */
async function decodeJws(token, keys) {
  const first = token.indexOf(".");
  const last = token.lastIndexOf(".");
  if (first < 0 || first === last) throw malformed("Not enough segments");
  const header = jsonObject(jwsSegment(token.slice(0, first)), "header");
  const payload = jwsSegment(token.slice(first + 1, last));
  const signature = jwsSegment(token.slice(last + 1));
  if (has(header, "crit") || has(header, "b64")) throw malformed("no JWS extensions are used");
  const kid = header.kid;
  if (typeof kid !== "string" || !keys.has(kid)) {
    throw new CredentialError("unknown_key", `unknown signing key ${kid}`);
  }
  if (header.alg !== ALGORITHM) throw new CredentialError("bad_signature", "algorithm not allowed");
  if (!(await ecdsaVerify(keys.get(kid), signature, token.slice(0, last)))) {
    throw new CredentialError("bad_signature", "signature does not verify");
  }
  return jsonObject(payload, "payload");
}

/** Parse a trust-bundle document (already signature-checked) once for many checks. */
export async function loadBundle(document) {
  const cryptoKeys = new Map();
  const notAfter = new Map();
  for (const jwk of document.keys) {
    const kid = String(jwk.kid);
    cryptoKeys.set(kid, await importJwk(jwk));
    notAfter.set(kid, jwk.not_after || null);
  }
  return {
    version: String(document.version),
    issuedAt: Number(document.issued_at) * 1000,
    maxAge: Number(document.max_age) * 1000,
    cryptoKeys,
    notAfter,
    deny: new Set(document.deny),
    // credentials withdrawn by a move to another phone (absent from older servers' bundles)
    denyCredentials: new Set(document.deny_credentials ?? []),
    products: document.products,
    colours: document.colours,
    document,
  };
}

/** Whether a bundle is older than its max age at `now` (ms): devices refuse to judge then. */
export function isStale(bundle, now) {
  return now - bundle.issuedAt > bundle.maxAge;
}

/** Open a signed bundle (compact JWS) with the pinned bundle keys (JWKs). Throws if the
 * signature does not verify or (unless `allowStale`, for a copy read back from storage,
 * which verify() then refuses to judge on) the bundle is stale, as passes.bundle.open_bundle. */
export async function openBundle(token, pinnedJwks, now = Date.now(), { allowStale = false } = {}) {
  const pinned = new Map();
  for (const jwk of pinnedJwks) pinned.set(String(jwk.kid), await importJwk(jwk));
  let document;
  try {
    document = await decodeJws(token, pinned);
  } catch (error) {
    throw new Error(`bundle does not verify: ${error.message}`);
  }
  const bundle = await loadBundle(document);
  if (!allowStale && isStale(bundle, now)) {
    throw new Error(`bundle is ${Math.round((now - bundle.issuedAt) / 3600_000)} h old`);
  }
  return bundle;
}

// ---------------------------------------------------------------- verdict

function pyInt(value) {
  // int() of a JSON value in a product's settings
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "number" && Number.isFinite(value)) return Math.trunc(value);
  if (typeof value === "string" && /^\s*[+-]?\d+(_\d+)*\s*$/.test(value)) {
    return Number(value.replaceAll("_", "").trim());
  }
  throw malformed("not an integer");
}

function pyTruthy(value) {
  if (Array.isArray(value) || typeof value === "string") return value.length > 0;
  if (isObject(value)) return Object.keys(value).length > 0;
  return Boolean(value);
}

/** [start, end) in ms of a product's validity for a service date, in Asia/Tokyo. */
export function serviceWindow(product, serviceDate) {
  const [y, m, d] = serviceDate.split("-").map(Number);
  const probe = new Date(0);
  probe.setUTCFullYear(y, m - 1, d);
  const midnight = probe.getTime() - TOKYO_OFFSET_MS;
  const from = has(product, "valid_from_minutes")
    ? pyInt(product.valid_from_minutes) : CONTRACT.valid_from_minutes;
  const boundary = has(product, "day_boundary_minutes")
    ? pyInt(product.day_boundary_minutes) : CONTRACT.day_boundary_minutes;
  return [midnight + from * 60_000, midnight + DAY_MS + boundary * 60_000];
}

function verdict(code, claims = null, key = null) {
  return {
    code,
    result: resultOf(code),
    message_ja: MESSAGES[code][0],
    message_en: MESSAGES[code][1],
    pass_id: claims ? claims.passId : null,
    product: claims ? claims.product : null,
    category: claims ? claims.category : null,
    service_date: claims ? claims.serviceDate : null,
    replay_key: key,
  };
}

const toMs = (t) => (t instanceof Date ? t.getTime() : typeof t === "string" ? Date.parse(t) : Number(t));

/** A lookup of "when did this device last accept …": a Map, a plain object, or a function
 * (sync or async, e.g. over IndexedDB) of the key; answers ms or null. */
function lookup(source) {
  if (typeof source === "function") {
    return async (key) => {
      const at = await source(key);
      return at === undefined || at === null ? null : toMs(at);
    };
  }
  const map = source instanceof Map ? source : new Map(Object.entries(source || {}));
  return async (key) => (map.has(key) && map.get(key) !== null ? toMs(map.get(key)) : null);
}

/**
 * Judge `payload` at `now` (Date, ms or ISO) with a loaded bundle (or null), on a device of
 * `context.operator`. `context.seen` gives when this device last accepted a code with a given
 * replay key, `context.passes` when it last accepted a given pass id (see lookup());
 * `context.windowMs` and `context.sameDeviceMs` override the contract's windows.
 */
export async function verify(payload, bundle, now, context) {
  const nowMs = toMs(now);
  const windowMs = context.windowMs ?? WINDOW_MS;
  const sameDeviceMs = context.sameDeviceMs ?? SAME_DEVICE_MS;
  const seen = lookup(context.seen);
  const passes = lookup(context.passes);
  if (!bundle) return verdict("no_bundle");
  if (isStale(bundle, nowMs)) return verdict("stale_bundle");
  if (typeof payload !== "string" || !payload || payload.length > MAX_PAYLOAD || NOT_ASCII.test(payload)) {
    return verdict("malformed");
  }
  let presentation, claims;
  try {
    presentation = parsePresentation(payload);
    claims = await credentialClaims(presentation.credential, bundle);
  } catch (error) {
    if (error instanceof CredentialError) return verdict(has(MESSAGES, error.code) ? error.code : "malformed");
    throw error;
  }
  const key = await replayKey(claims.passId, presentation.shownAt);
  const judged = (code) => verdict(code, claims, key);
  if (bundle.deny.has(claims.passId)) return judged("revoked");
  if (bundle.denyCredentials.size && bundle.denyCredentials.has(await digest(presentation.credential))) {
    return judged("credential_moved");
  }
  const product = has(bundle.products, claims.product) ? bundle.products[claims.product] : null;
  const operators = product && has(product, "operators") ? product.operators : [];
  if (!product || !Array.isArray(operators) || !operators.includes(context.operator)) {
    return judged("not_covered");
  }
  const [start, end] = serviceWindow(product, claims.serviceDate);
  if (nowMs < start) return judged("too_early");
  if (nowMs >= end) return judged("expired");
  if (presentation.shownAt === null) {
    if (claims.deviceKey !== null || !pyTruthy(product.static_allowed ?? false)) {
      return judged("static_not_allowed");
    }
    const last = await seen(key);
    if (last !== null && Math.abs(nowMs - last) < STATIC_REPLAY_MS) return judged("replay");
  } else {
    // a time and signature added to an unbound credential are someone else's too
    if (claims.deviceKey === null) return judged("wrong_device");
    const message = `${presentation.credential}~${presentation.timeText}`;
    if (!(await ecdsaVerify(claims.deviceKey, presentation.signature, message))) {
      return judged("wrong_device");
    }
    if (Math.abs(nowMs - presentation.shownAt) > windowMs) return judged("outside_window");
    if ((await seen(key)) !== null) return judged("replay");
  }
  const lastHere = await passes(claims.passId);
  if (lastHere !== null && Math.abs(nowMs - lastHere) < sameDeviceMs) return judged("replay");
  return judged(presentation.shownAt === null ? "accept_static" : "accept");
}
