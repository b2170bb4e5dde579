// Shared page script (every page): the language toggle, the service status line, and on the
// rider page the products and operators lists.
import { $, api, applyLanguage, pick, setText, setupLanguage } from "./common.js";

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderProducts(products) {
  const list = $("products");
  list.replaceChildren();
  for (const p of products) {
    const item = el("li", { "data-code": p.code });
    item.append(el("h3", { "data-ja": p.name, "data-en": p.name_en }, pick(p.name, p.name_en)));
    const price = el("p", { class: "price" });
    setText(price, "大人 {adult:yen} / 小児 {child:yen}", "Adult {adult:yen} / Child {child:yen}",
      { adult: p.prices.adult, child: p.prices.child });
    item.append(price);
    list.append(item);
  }
  list.setAttribute("aria-busy", "false");
  applyLanguage();
}

function renderOperators(operators) {
  const list = $("operators");
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

setupLanguage();

const page = document.body.dataset.page;
const status = $("service-status");
const offline = () => {
  // no network is a normal state for these pages (service workers keep them working)
  setText(status, "オフライン", "Offline");
};
// the status line says only what a rider can act on (offline); how the service is built
// (its database kind, versions) is for operators, who have /api/v1/health
api("/health").then((h) => { status.textContent = ""; renderFeeds(h); })
  .catch((e) => { if (e instanceof TypeError) offline(); else status.textContent = String(e); });
if (page === "app") {
  api("/products").then(renderProducts).catch((e) => { status.textContent = String(e); });
  api("/operators").then(renderOperators).catch(() => {});
}
