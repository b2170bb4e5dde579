// The browser verifier of the driver page: validators/verify.py's rules, in WebCrypto.
//
// Pure: no network, no storage, no DOM. The checks run in the same order as the Python
// verifier and stop at the first failure: bundle present and fresh → code well-formed →
// issuing key known and valid for the service date → credential signature → deny-list →
// product known and covering this operator → service date window → static or rotating
// (phone signature, ±45 s window) → replay on this device. Both verifiers read the shared
// vectors in tests/data/verify-vectors.json and must give the same code on every one.
//
// Where PyJWT or the Python standard library decide what is "well-formed" (base64url of JWT
// segments, the lenient base64 of the presentation, registered JWT claims), this file copies
// their rules, so that the two verifiers agree also on odd input.

export const WINDOW_MS = 45_000;
export const STATIC_REPLAY_MS = 10 * 60_000;
export const MAX_PAYLOAD = 2048;
const ALGORITHM = "ES256";
const TOKYO_OFFSET_MS = 9 * 3600_000; // Asia/Tokyo has had no daylight saving time since 1951
const DAY_MS = 86_400_000;

export const MESSAGES = {
  accept: ["有効です", "Valid pass"],
  accept_static: ["有効です(印刷券)", "Valid pass (printed code)"],
  bad_signature: ["偽造の疑い: 署名が不正です", "Invalid signature: possibly forged"],
  wrong_device: ["登録された端末の表示ではありません",
    "Not shown from the phone the pass is bound to"],
  unknown_key: ["発行元の鍵が不明です", "Issued with an unknown key"],
  too_early: ["利用日前です", "Not valid yet: the pass is for a later date"],
  expired: ["有効期限切れです", "Expired: the pass was for an earlier date"],
  revoked: ["無効化された乗車券です", "Revoked or flagged pass"],
  not_covered: ["この事業者では使えません", "Not valid with this operator"],
  static_not_allowed: ["印刷券は使えません。アプリで表示してください",
    "Printed codes not accepted: show the pass in the app"],
  outside_window: ["表示時刻がずれています(画面の写しの疑い)",
    "Code too old or too new: possibly a screenshot"],
  replay: ["この端末で使用済みのコードです", "Code already used on this device"],
  malformed: ["乗車券のコードではありません", "Not a pass code"],
  no_bundle: ["判定できません: 検証データがありません",
    "Cannot judge: no trust bundle, sync the device"],
  stale_bundle: ["判定できません: 検証データが古すぎます",
    "Cannot judge: trust bundle too old, sync the device"],
};
const ACCEPT_CODES = new Set(["accept", "accept_static"]);
const CANNOT_JUDGE_CODES = new Set(["no_bundle", "stale_bundle"]);
const CATEGORY_NAMES = { a: "adult", c: "child" };

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

// ---------------------------------------------------------------- bytes and base64

const ASCII = /^[\x00-\x7f]*$/;
const ENCODER = new TextEncoder();
const B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_VALUES = new Map([...B64_ALPHABET].map((ch, i) => [ch, i]));

function decodeQuads(text) {
  // text holds only alphabet characters (standard or url-safe), no padding
  const out = [];
  let acc = 0, bits = 0;
  for (const ch of text) {
    const v = B64_VALUES.get(ch === "-" ? "+" : ch === "_" ? "/" : ch);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
      acc &= (1 << bits) - 1;
    }
  }
  return Uint8Array.from(out);
}

/** Unpadded base64url of bytes. */
export function b64url(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** A JWT segment as PyJWT 2.15 decodes it: url-safe alphabet only, at most two '=' of
 * padding on a whole quad, and canonical (unused trailing bits zero). */
function jwtSegment(segment, name) {
  let stripped = segment;
  let padding = 0;
  while (stripped.endsWith("=")) {
    stripped = stripped.slice(0, -1);
    padding += 1;
    if (padding > 2) throw malformed(`Invalid ${name} padding`);
  }
  if (padding && segment.length % 4 !== 0) throw malformed(`Invalid ${name} padding`);
  if (stripped.length % 4 === 1 || !/^[A-Za-z0-9_-]*$/.test(stripped)) {
    throw malformed(`Invalid ${name} padding`);
  }
  const bytes = decodeQuads(stripped);
  if (b64url(bytes) !== stripped) throw malformed(`Invalid ${name} padding`);
  return bytes;
}

/** passes.credential.unb64url: Python's urlsafe_b64decode after padding, which skips
 * characters outside the alphabet and stops at a complete padding sequence. */
export function unb64url(text) {
  if (!ASCII.test(text)) throw malformed("not ASCII");
  const padded = text + "=".repeat((4 - (text.length % 4)) % 4);
  const out = [];
  let quad = 0, left = 0, pads = 0;
  for (const raw of padded) {
    if (raw === "=") {
      if (quad >= 2 && quad + ++pads >= 4) return Uint8Array.from(out);
      continue;
    }
    const v = B64_VALUES.get(raw === "-" ? "+" : raw === "_" ? "/" : raw);
    if (v === undefined) continue;
    pads = 0;
    if (quad === 0) { left = v; quad = 1; }
    else if (quad === 1) { out.push(((left << 2) | (v >> 4)) & 0xff); left = v & 0x0f; quad = 2; }
    else if (quad === 2) { out.push(((left << 4) | (v >> 2)) & 0xff); left = v & 0x03; quad = 3; }
    else { out.push(((left << 6) | v) & 0xff); left = 0; quad = 0; }
  }
  if (quad !== 0) throw malformed(quad === 1 ? "base64: 1 more than a multiple of 4" : "Incorrect padding");
  return Uint8Array.from(out);
}

function bigEndian(bytes) {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

// str.isspace() in Python: unlike JavaScript's \s it holds \x1c-\x1f and \x85, not \ufeff
const PY_SPACE = "[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const PY_STRIP = new RegExp(`^${PY_SPACE}+|${PY_SPACE}+$`, "g");
const pyStrip = (text) => text.replace(PY_STRIP, "");

async function sha256Hex(text) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", ENCODER.encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The replay key of a payload: the first 32 hex characters of SHA-256 of the trimmed text. */
export async function replayKey(payload) {
  return (await sha256Hex(pyStrip(payload))).slice(0, 32);
}

// ---------------------------------------------------------------- P-256 keys

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

const phoneKeys = new Map(); // compressed point text → CryptoKey (a bus sees the same riders)

async function phoneKey(text) {
  let key = phoneKeys.get(text);
  if (!key) {
    try {
      key = await importJwk(pointJwk(unb64url(text)));
    } catch (error) {
      throw error instanceof CredentialError ? error : malformed("not a P-256 key");
    }
    if (phoneKeys.size > 500) phoneKeys.clear();
    phoneKeys.set(text, key);
  }
  return key;
}

// ---------------------------------------------------------------- JWS (PyJWT's rules)

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
const UTF8 = new TextDecoder("utf-8", { fatal: true });

function jsonObject(bytes, what) {
  let value;
  try {
    value = JSON.parse(UTF8.decode(bytes));
  } catch {
    throw malformed(`Invalid ${what} string`);
  }
  if (!isObject(value)) throw malformed(`Invalid ${what} string: must be a json object`);
  return value;
}

/** PyJWS._load and _validate_headers: split, decode, parse; the header is not yet trusted. */
function loadJws(token) {
  const last = token.lastIndexOf(".");
  const first = token.indexOf(".");
  if (last < 0 || first === last) throw malformed("Not enough segments");
  const header = jsonObject(jwtSegment(token.slice(0, first), "header"), "header");
  const payloadSegment = token.slice(first + 1, last);
  let payload;
  if (header.b64 === false) {
    if (payloadSegment) throw malformed("Payload segment must be empty when 'b64' is false.");
    payload = new Uint8Array();
  } else {
    payload = jwtSegment(payloadSegment, "payload");
  }
  const signature = jwtSegment(token.slice(last + 1), "crypto");
  if (has(header, "kid") && typeof header.kid !== "string") {
    throw malformed("Key ID header parameter must be a string");
  }
  if (has(header, "crit")) {
    const crit = header.crit;
    if (!Array.isArray(crit) || crit.length === 0) throw malformed("Invalid 'crit' header");
    for (const ext of crit) {
      if (typeof ext !== "string" || ext !== "b64" || !has(header, ext)) {
        throw malformed("Unsupported critical extension");
      }
    }
  }
  return { header, payload, signature, signingInput: token.slice(0, last) };
}

/** Verify a compact JWS with the key its kid names (ES256 only); returns the claims. */
async function decodeJws(token, keys) {
  const jws = loadJws(token);
  const kid = jws.header.kid;
  if (typeof kid !== "string" || !keys.has(kid)) {
    throw new CredentialError("unknown_key", `unknown signing key ${kid}`);
  }
  if (jws.header.b64 === false) throw malformed("detached payloads are not used");
  const alg = has(jws.header, "alg") ? jws.header.alg : undefined;
  if (alg !== ALGORITHM) throw new CredentialError("bad_signature", "algorithm not allowed");
  if (!(await ecdsaVerify(keys.get(kid), jws.signature, jws.signingInput))) {
    throw new CredentialError("bad_signature", "signature does not verify");
  }
  return { kid, claims: jsonObject(jws.payload, "payload") };
}

function pyInt(value) {
  // int() of a JSON value, as PyJWT applies it to iat, nbf and exp
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw malformed("not an integer");
    return Math.trunc(value);
  }
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

function pyStr(value) {
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return value ? "True" : "False";
  return typeof value === "number" ? String(value) : JSON.stringify(value);
}

/** PyJWT's checks of registered claims (with decode()'s defaults, on the real clock). */
function checkRegisteredClaims(claims) {
  for (const name of ["i", "p", "c", "d"]) {
    if (!has(claims, name) || claims[name] === null) throw malformed(`missing claim ${name}`);
  }
  const now = Date.now() / 1000;
  if (has(claims, "iat") && pyInt(claims.iat) > now) throw malformed("iat in the future");
  if (has(claims, "nbf") && pyInt(claims.nbf) > now) throw malformed("not yet valid");
  if (has(claims, "exp") && pyInt(claims.exp) <= now) throw malformed("expired token");
  if (has(claims, "aud") && pyTruthy(claims.aud)) throw malformed("Invalid audience");
  if (has(claims, "sub") && typeof claims.sub !== "string") throw malformed("bad sub");
  if (has(claims, "jti") && typeof claims.jti !== "string") throw malformed("bad jti");
}

function isoDate(text) {
  // date.fromisoformat of the text the Python verifier builds from "YYYYMMDD"
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const probe = new Date(0);
  probe.setUTCFullYear(y, mo - 1, d);
  if (y < 1 || probe.getUTCFullYear() !== y || probe.getUTCMonth() !== mo - 1
      || probe.getUTCDate() !== d) return null;
  return text;
}

/** passes.credential.verify: the pass claims of a credential signed by a bundle key. */
async function credentialClaims(token, bundle) {
  const { kid, claims } = await decodeJws(token, bundle.cryptoKeys);
  checkRegisteredClaims(claims);
  const category = typeof claims.c === "string" && has(CATEGORY_NAMES, claims.c)
    ? CATEGORY_NAMES[claims.c] : null;
  if (category === null) throw malformed("claims are not a pass");
  if (typeof claims.d !== "string") throw malformed("claims are not a pass");
  const d = Array.from(claims.d);
  const serviceDate = isoDate(`${d.slice(0, 4).join("")}-${d.slice(4, 6).join("")}-${d.slice(6).join("")}`);
  if (serviceDate === null) throw malformed("claims are not a pass");
  let deviceKey = null;
  if (has(claims, "k")) {
    if (typeof claims.k !== "string") throw malformed("claims are not a pass");
    deviceKey = await phoneKey(claims.k);
  }
  const notAfter = bundle.notAfter.get(kid);
  if (notAfter && serviceDate > notAfter) {
    // a retired key signs nothing new: a later date under it is a forgery or a leak
    throw new CredentialError("unknown_key", `key ${kid} retired before ${serviceDate}`);
  }
  return { passId: pyStr(claims.i), product: pyStr(claims.p), category, serviceDate, deviceKey };
}

// ---------------------------------------------------------------- presentation

function parsePresentation(payload) {
  const parts = pyStrip(payload).split("~");
  if (parts.length === 1) return { credential: parts[0], shownAt: null, signature: null, timeText: "" };
  if (parts.length !== 3) throw malformed("not a pass code");
  const time = unb64url(parts[1]);
  const signature = unb64url(parts[2]);
  if (signature.length !== 64 || parts[1].length !== 6) {
    throw malformed("presentation has the wrong length");
  }
  return { credential: parts[0], shownAt: Number(bigEndian(time)) * 1000, signature, timeText: parts[1] };
}

// ---------------------------------------------------------------- bundle and verdict

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
    document = (await decodeJws(token, pinned)).claims;
  } catch (error) {
    throw new Error(`bundle does not verify: ${error.message}`);
  }
  const bundle = await loadBundle(document);
  if (!allowStale && isStale(bundle, now)) {
    throw new Error(`bundle is ${Math.round((now - bundle.issuedAt) / 3600_000)} h old`);
  }
  return bundle;
}

/** [start, end) in ms of a product's validity for a service date, in Asia/Tokyo. */
export function serviceWindow(product, serviceDate) {
  const [y, m, d] = serviceDate.split("-").map(Number);
  const probe = new Date(0);
  probe.setUTCFullYear(y, m - 1, d);
  const midnight = probe.getTime() - TOKYO_OFFSET_MS;
  const from = has(product, "valid_from_minutes") ? pyInt(product.valid_from_minutes) : 240;
  const boundary = has(product, "day_boundary_minutes") ? pyInt(product.day_boundary_minutes) : 180;
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

/**
 * Judge `payload` at `now` (Date, ms or ISO) with a loaded bundle (or null), on a device of
 * `context.operator`. `context.seen` maps the replay keys of codes this device already
 * accepted to when (Date, ms or ISO; a Map or a plain object).
 */
export async function verify(payload, bundle, now, context) {
  const nowMs = toMs(now);
  const windowMs = context.windowMs ?? WINDOW_MS;
  const seen = context.seen instanceof Map ? context.seen
    : new Map(Object.entries(context.seen || {}));
  if (!bundle) return verdict("no_bundle");
  if (isStale(bundle, nowMs)) return verdict("stale_bundle");
  if (typeof payload !== "string" || !payload || payload.length > MAX_PAYLOAD || !ASCII.test(payload)) {
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
  if (bundle.deny.has(claims.passId)) return verdict("revoked", claims);
  const product = has(bundle.products, claims.product) ? bundle.products[claims.product] : null;
  const operators = product && has(product, "operators") ? product.operators : [];
  if (!product || !Array.isArray(operators) || !operators.includes(context.operator)) {
    return verdict("not_covered", claims);
  }
  const [start, end] = serviceWindow(product, claims.serviceDate);
  if (nowMs < start) return verdict("too_early", claims);
  if (nowMs >= end) return verdict("expired", claims);
  const key = await replayKey(payload);
  if (presentation.shownAt === null) {
    if (claims.deviceKey !== null || !pyTruthy(product.static_allowed ?? false)) {
      return verdict("static_not_allowed", claims);
    }
    const last = seen.get(key);
    if (last !== undefined && last !== null && Math.abs(nowMs - toMs(last)) < STATIC_REPLAY_MS) {
      return verdict("replay", claims);
    }
    return verdict("accept_static", claims, key);
  }
  // a time and signature added to an unbound credential are someone else's too
  if (claims.deviceKey === null) return verdict("wrong_device", claims);
  const message = `${presentation.credential}~${presentation.timeText}`;
  if (!(await ecdsaVerify(claims.deviceKey, presentation.signature, message))) {
    return verdict("wrong_device", claims);
  }
  if (Math.abs(nowMs - presentation.shownAt) > windowMs) return verdict("outside_window", claims);
  if (seen.has(key)) return verdict("replay", claims);
  return verdict("accept", claims, key);
}
