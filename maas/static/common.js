// What every page shares, in one ES module: the API wrapper, base64url, P-256 low-s, and the
// Japanese/English toggle. Importing it has no side effects (the pure verifier imports it);
// a page calls setupLanguage() once — any number of calls set the toggle up once.

export const API = "/api/v1";

/** An element by id. */
export const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- HTTP

/** A non-2xx answer: `status`, the problem document's `detail` (or the status text), and
 * its `type` ("" when none) so a page can act on a case such as pass-bound-elsewhere. */
export class ApiError extends Error {
  constructor(status, detail, type = "") {
    super(detail || String(status));
    this.status = status;
    this.detail = detail || "";
    this.type = type || "";
  }
}

/**
 * One request to the API: JSON in, JSON (or a Blob for another `accept`) out.
 * Resolves with `{status, body}` (`body` null for 304 Not Modified); rejects with ApiError on
 * a non-2xx answer and with the fetch's TypeError when there is no network.
 */
export async function request(path, {
  method = "GET", body, headers = {}, token = null, accept = "application/json", cache,
} = {}) {
  const response = await fetch(API + path, {
    method,
    cache,
    headers: {
      Accept: accept,
      ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  if (response.status === 304) return { status: 304, body: null };
  if (!response.ok) {
    const problem = await response.json().catch(() => null);
    throw new ApiError(response.status,
      (problem && (problem.detail || problem.title)) || response.statusText,
      problem && problem.type);
  }
  const content = accept === "application/json"
    ? await response.json().catch(() => null)
    : await response.blob();
  return { status: response.status, body: content };
}

/** `request` for the body alone. */
export const api = async (path, options) => (await request(path, options)).body;

// ---------------------------------------------------------------- bytes

/** Unpadded base64url of bytes. */
export function b64url(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Strict base64url, the one form b64url() writes: no padding, no + or /, no whitespace,
 * zero unused bits in the last character. Throws otherwise (as passes.credential.unb64url). */
export function unb64url(text) {
  if (typeof text !== "string" || text.length % 4 === 1 || !/^[A-Za-z0-9_-]*$/.test(text)) {
    throw new Error("not strict base64url");
  }
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/")
    + "=".repeat((4 - (text.length % 4)) % 4));
  const bytes = Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
  if (b64url(bytes) !== text) throw new Error("not canonical base64url (unused bits set)");
  return bytes;
}

/** A big-endian unsigned integer. */
export function bigEndian(bytes) {
  let n = 0n;
  for (const byte of bytes) n = (n << 8n) | BigInt(byte);
  return n;
}

/** `n` as `length` big-endian bytes. */
export function toBytes(n, length) {
  const bytes = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return bytes;
}

// the order of P-256's base point: (r, s) and (r, n - s) both verify, validators take only
// s <= n/2 (passes.credential.HALF_ORDER)
export const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
export const P256_HALF_ORDER = P256_ORDER / 2n;

/** A raw r || s ECDSA P-256 signature (what WebCrypto gives, with s drawn at random) in its
 * one accepted form: s replaced by n - s when above n/2. */
export function lowS(signature) {
  const raw = new Uint8Array(signature);
  const s = bigEndian(raw.subarray(32));
  if (s <= P256_HALF_ORDER) return raw;
  raw.set(toBytes(P256_ORDER - s, 32), 32);
  return raw;
}

// ---------------------------------------------------------------- language

const LANG_KEY = "maas-lang";

/** The rider page's languages; the driver and partner pages have Japanese and English. */
export const LANGUAGES = ["ja", "en", "zh-Hans", "zh-Hant", "ko"];
const LOCALES = { ja: "ja-JP", en: "en-US", "zh-Hans": "zh-CN", "zh-Hant": "zh-TW", ko: "ko-KR" };
let catalogue = {}; // {language: {Japanese text or template: translation}} (maas/static/i18n.js)

/** Give the translations of the languages beyond Japanese and English (the rider page's). */
export function useCatalogue(translations) {
  catalogue = translations;
}

/** The page's language as it shows it now: one of LANGUAGES. */
export const lang = () => {
  const current = document.documentElement.lang;
  return LANGUAGES.includes(current) ? current : "ja";
};

/** The locale Intl formats numbers, money and dates in for the page's language. */
export const locale = () => LOCALES[lang()];

/** Yen through Intl, as the page's language writes it. */
export const yen = (n) => new Intl.NumberFormat(locale(), { style: "currency", currency: "JPY",
  currencyDisplay: "narrowSymbol" }) // ¥, never JP¥ (zh, ko)
  .format(n);

/** `{name}` in a template replaced by values[name]; `{name:yen}` by that number as yen in the
 * page's language (formatted when shown, so a switch of language formats it again). */
export const fill = (template, values) => (values
  ? template.replace(/\{(\w+)(:yen)?\}/g, (all, name, money) => {
    if (!(name in values)) return all;
    return money ? yen(values[name]) : String(values[name]);
  })
  : template);

/** The text for the page's language: Japanese, the English given, or the catalogue's
 * translation of the Japanese (English when it has none); `{name}`s filled from values. */
export function pick(ja, en, values) {
  const language = lang();
  let text = ja;
  if (language === "en") text = en || ja;
  else if (language !== "ja") text = (catalogue[language] || {})[ja] || en || ja;
  return fill(text, values);
}

/** A text in every language: a switch of language rewrites nodes that carry data-ja/data-en
 * (and data-values, the JSON of a template's values). */
export function setText(node, ja, en = ja, values = null) {
  node.dataset.ja = ja;
  node.dataset.en = en || ja;
  if (values) node.dataset.values = JSON.stringify(values);
  else delete node.dataset.values;
  node.textContent = pick(ja, en, values);
}

/** Empty a node and forget its texts, so no later switch of language brings them back. */
export function clearText(node) {
  delete node.dataset.ja;
  delete node.dataset.en;
  delete node.dataset.values;
  node.textContent = "";
}

/** An aria-label in every language. */
export function setLabel(node, ja, en = ja, values = null) {
  node.dataset.ariaJa = ja;
  node.dataset.ariaEn = en || ja;
  if (values) node.dataset.ariaValues = JSON.stringify(values);
  else delete node.dataset.ariaValues;
  node.setAttribute("aria-label", pick(ja, en, values));
}

/** Rewrite every bilingual text and label for the current language. */
export function applyLanguage() {
  const values = (json) => (json ? JSON.parse(json) : null);
  document.querySelectorAll("[data-ja]").forEach((node) => {
    node.textContent = pick(node.dataset.ja, node.dataset.en, values(node.dataset.values));
  });
  document.querySelectorAll("[data-aria-ja]").forEach((node) => {
    node.setAttribute("aria-label", pick(node.dataset.ariaJa, node.dataset.ariaEn,
      values(node.dataset.ariaValues)));
  });
  const toggle = $("lang-toggle");
  if (toggle) toggle.textContent = lang() === "ja" ? "EN" : "日本語";
  const select = $("lang-select");
  if (select) select.value = lang();
}

/** Run `callback` after each switch of language (once the page's texts are rewritten). */
export function onLanguageChange(callback) {
  document.addEventListener("maas:language", () => callback(lang()));
}

let languageReady = false;
/** Apply the language kept from the last visit and wire the toggle button (once). */
export function setupLanguage() {
  if (languageReady) return;
  languageReady = true;
  const saved = localStorage.getItem(LANG_KEY);
  const select = $("lang-select");
  if (select) { // the rider page: five languages, the browser's first that it has by default
    document.documentElement.lang = LANGUAGES.includes(saved) ? saved : fromBrowser();
    select.addEventListener("change", () => {
      document.documentElement.lang = select.value;
      localStorage.setItem(LANG_KEY, lang());
      applyLanguage();
      document.dispatchEvent(new CustomEvent("maas:language"));
    });
  } else {
    document.documentElement.lang = saved === "en" ? "en" : "ja";
  }
  applyLanguage();
  const toggle = $("lang-toggle");
  if (!toggle) return;
  toggle.addEventListener("click", () => {
    document.documentElement.lang = lang() === "ja" ? "en" : "ja";
    localStorage.setItem(LANG_KEY, lang());
    applyLanguage();
    document.dispatchEvent(new CustomEvent("maas:language"));
  });
}

/** The first of the browser's languages the rider page has (Japanese when none). */
function fromBrowser() {
  for (const tag of navigator.languages || [navigator.language || "ja"]) {
    const lower = tag.toLowerCase();
    if (lower.startsWith("zh")) {
      return /-(hant|tw|hk|mo)\b/.test(lower) ? "zh-Hant" : "zh-Hans";
    }
    const base = lower.split("-")[0];
    if (["ja", "en", "ko"].includes(base)) return base;
  }
  return "ja";
}
