// Service worker of the driver page (served as /driver/sw.js, scope /driver).
//
// It keeps the page shell, its scripts and the QR reader (ponyfill + zxing wasm) so the page
// loads and judges with no network. The trust bundle and the scan journal are not here: they
// live in IndexedDB, and API calls always go to the network (the page handles being offline).
// Shell files: network first (a driver online gets a new release at once), the cached copy
// when the network fails or hangs. Vendor files change only with the npm lock: cache first,
// refreshed in the background.
const CACHE = "maas-driver-v1";
const SHELL = [
  "/driver",
  "/static/maas.css",
  "/static/maas.js",
  "/static/common.js",
  "/static/driver.js",
  "/static/verify.js",
  "/static/verify-contract.json", // the verifier's codes, messages and windows (verify.js)
];
const VENDOR = [
  "/static/vendor/barcode-detector/es/ponyfill.js",
  "/static/vendor/barcode-detector/es/zxing-exported.js",
  "/static/vendor/zxing-wasm/zxing_reader.wasm",
];
const NETWORK_TIMEOUT_MS = 3000;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll([...SHELL, ...VENDOR].map((url) => new Request(url, { cache: "reload" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("maas-driver-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await Promise.race([
      fetch(request),
      new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), NETWORK_TIMEOUT_MS)),
    ]);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (cached) return cached;
    throw error;
  }
}

async function cacheFirst(request, event) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request, { ignoreSearch: true });
  const refresh = fetch(request).then(async (response) => {
    if (response.ok) await cache.put(request, response.clone());
    return response;
  });
  if (cached) {
    event.waitUntil(refresh.catch(() => {}));
    return cached;
  }
  return refresh;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/static/vendor/")) {
    event.respondWith(cacheFirst(request, event));
  } else if (url.pathname === "/driver" || SHELL.includes(url.pathname)) {
    event.respondWith(networkFirst(request));
  }
});
