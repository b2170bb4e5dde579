// Shared page script: language toggle, and the data each page shows from the API.
"use strict";
(function () {
  const api = (path) => fetch("/api/v1" + path, { headers: { Accept: "application/json" } })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(r.status + " " + path))));
  let lang = localStorage.getItem("maas-lang") || "ja";
  const pick = (ja, en) => (lang === "en" && en ? en : ja);

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-ja]").forEach((el) => {
      el.textContent = pick(el.dataset.ja, el.dataset.en);
    });
    document.getElementById("lang-toggle").textContent = lang === "ja" ? "EN" : "日本語";
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function renderProducts(products) {
    const list = document.getElementById("products");
    list.replaceChildren();
    for (const p of products) {
      const item = el("li", { "data-code": p.code });
      item.append(el("h3", { "data-ja": p.name, "data-en": p.name_en }, pick(p.name, p.name_en)));
      const yen = (n) => "¥" + n.toLocaleString("ja-JP");
      item.append(el("p", { class: "price", "data-ja": "大人 " + yen(p.prices.adult) + " / 小児 " + yen(p.prices.child),
        "data-en": "Adult " + yen(p.prices.adult) + " / Child " + yen(p.prices.child) }));
      list.append(item);
    }
    list.setAttribute("aria-busy", "false");
    applyLanguage();
  }

  function renderOperators(operators) {
    const list = document.getElementById("operators");
    list.replaceChildren(...operators.map((o) =>
      el("li", { "data-ja": o.name, "data-en": o.name_en || o.name }, pick(o.name, o.name_en))));
  }

  function renderFeeds(health) {
    const body = document.querySelector("#feeds tbody");
    if (!body) return;
    body.replaceChildren(...health.feeds.map((f) => {
      const row = el("tr");
      [f.kind, f.name, f.version, f.service_start ? f.service_start + " – " + f.service_end : "—"]
        .forEach((v) => row.append(el("td", {}, v)));
      return row;
    }));
  }

  document.getElementById("lang-toggle").addEventListener("click", () => {
    lang = lang === "ja" ? "en" : "ja";
    localStorage.setItem("maas-lang", lang);
    applyLanguage();
  });
  applyLanguage();

  const page = document.body.dataset.page;
  const status = document.getElementById("service-status");
  const offline = () => {
    // no network is a normal state for these pages (service workers keep them working)
    status.dataset.ja = "オフライン";
    status.dataset.en = "Offline";
    status.textContent = pick(status.dataset.ja, status.dataset.en);
  };
  api("/health").then((h) => { status.textContent = h.database.backend + " · " + h.time; renderFeeds(h); })
    .catch((e) => { if (e instanceof TypeError) offline(); else status.textContent = String(e); });
  if (page === "app") {
    api("/products").then(renderProducts).catch((e) => { status.textContent = String(e); });
    api("/operators").then(renderOperators).catch(() => {});
  }
})();
