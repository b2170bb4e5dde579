// Service worker of the rider page, served as /app/sw.js with scope /app.
// Network first, the cache when there is no network (or it is too slow): the page shell, the
// scripts, the self-hosted QR encoder, the product list and the rider's last pass data. With
// the phone key in IndexedDB, a pass shown once keeps showing a valid rotating code offline.
"use strict";
const CACHE = "maas-rider-v1";
const SHELL = [
  "/app", "/static/maas.css", "/static/maas.js", "/static/common.js", "/static/rider.js",
  "/static/vendor/qrcode-generator/qrcode.mjs", "/api/v1/products", "/api/v1/operators",
  "/static/plan.js", "/static/i18n.js", "/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/leaflet.css",
];
const CACHED = [/^\/app$/, /^\/static\//, /^\/api\/v1\/(products|operators|passes)(\/[^/]+)?$/];
const PATIENCE_MS = 4000; // a network slower than this answers from the cache when it can

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n.startsWith("maas-rider-") && n !== CACHE)
      .map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!CACHED.some((pattern) => pattern.test(url.pathname))) return;
  event.respondWith(networkFirst(request, url));
});

async function networkFirst(request, url) {
  const cache = await caches.open(CACHE);
  const key = url.origin + url.pathname; // the query never changes what is cached here
  const fromNetwork = fetch(request).then(async (response) => {
    if (response.ok) await cache.put(key, response.clone());
    return response;
  });
  const cached = await cache.match(key, { ignoreVary: true });
  if (!cached) return fromNetwork;
  const slow = new Promise((resolve) => setTimeout(() => resolve(cached), PATIENCE_MS));
  return Promise.race([fromNetwork.catch(() => cached), slow]);
}
