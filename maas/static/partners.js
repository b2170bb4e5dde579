// Partner dashboard: sign in with the API key (kept in sessionStorage for this tab only),
// then charts of daily sales, validations by hour and operator shares, with CSV downloads.
// Chart.js is the classic vendor script before this module (global `Chart`).
/* global Chart */
import { $, api, lang, onLanguageChange, pick as t, setupLanguage } from "./common.js";

setupLanguage();
{
  const KEY = "maas-partner-key";
  const locale = () => (lang() === "en" ? "en-US" : "ja-JP"); // en-US writes ¥, en-GB JP¥
  const yen = (n) => (n === null || n === undefined ? "—"
    : new Intl.NumberFormat(locale(), { style: "currency", currency: "JPY" }).format(n));
  const num = (n) => (n === null || n === undefined ? "—"
    : new Intl.NumberFormat(locale()).format(n));
  const charts = {};
  let partner = null;
  let operatorList = []; // [{id, name, name_en}] from /operators: charts and tables show names
  let shown = null; // the last reports, drawn again in the other language
  const OTHERS = "(others)"; // the apportionment's one share of every other operator
  function operatorName(id) {
    if (id === OTHERS) return t("その他の事業者", "Other operators");
    const operator = operatorList.find((o) => o.id === id);
    return operator ? t(operator.name, operator.name_en || operator.name) : id;
  }

  function ymd(date) {
    // a calendar date in Kanazawa, whatever the browser's zone
    return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Tokyo" }).format(date);
  }

  function call(path, params, accept) {
    const query = new URLSearchParams(params || {}).toString();
    return api(path + (query ? "?" + query : ""),
      { token: sessionStorage.getItem(KEY), accept: accept || "application/json" });
  }

  function period() {
    const params = { from: $("period-from").value, to: $("period-to").value };
    const operator = $("period-operator").value;
    if (operator) params.operator = operator;
    return params;
  }

  function draw(id, config) {
    if (charts[id]) charts[id].destroy();
    if (typeof Chart === "undefined") return; // the vendor script is missing: tables still work
    charts[id] = new Chart($(id), config);
  }

  function renderSales(report) {
    const rows = report.rows;
    draw("chart-sales", {
      data: {
        labels: rows.map((r) => r.key.slice(5)),
        datasets: [
          { type: "bar", label: t("販売枚数", "Passes sold"), data: rows.map((r) => r.passes), yAxisID: "passes", backgroundColor: "#1f6fb2" },
          { type: "line", label: t("売上(円)", "Revenue (yen)"), data: rows.map((r) => r.revenue_yen), yAxisID: "yen", borderColor: "#c0392b" },
        ],
      },
      options: { animation: false, scales: { passes: { position: "left", beginAtZero: true }, yen: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } } } },
    });
    // a suppressed cell withholds its numbers (maas/stats/privacy.py): it is said so, never
    // counted as 0 passes / ¥0, and the total covers only the cells shown
    const open = rows.filter((r) => !r.suppressed);
    const hidden = rows.length - open.length;
    const passes = open.reduce((sum, r) => sum + r.passes, 0);
    const revenue = open.reduce((sum, r) => sum + r.revenue_yen, 0);
    const box = $("sales-total");
    box.dataset.suppressed = String(hidden);
    if (rows.length && !open.length) {
      box.textContent = t("非表示（" + report.k + " 枚未満のため）",
        "Suppressed (fewer than " + report.k + " passes)");
      return;
    }
    box.textContent = t("合計 ", "Total ") + num(passes) + t(" 枚 / ", " passes / ") + yen(revenue)
      + (hidden ? t("（ほかに非表示のセル " + hidden + "）", " (plus " + hidden + " suppressed cells)") : "");
  }

  function renderHours(report) {
    const hours = Array.from({ length: 24 }, (_, h) => String(h).padStart(2, "0"));
    const cell = Object.fromEntries(report.rows.map((r) => [r.key, r]));
    const total = Object.fromEntries(report.consortium.map((r) => [r.key, r]));
    const datasets = [
      { type: "bar", label: t("乗車確認(承認)", "Accepted"), data: hours.map((h) => (cell[h] ? cell[h].accepted : null)), backgroundColor: "#2e8b57" },
      { type: "bar", label: t("拒否", "Rejected"), data: hours.map((h) => (cell[h] ? cell[h].rejected : null)), backgroundColor: "#e67e22" },
    ];
    if (report.operator) {
      datasets.push({ type: "line", label: t("コンソーシアム全体", "Whole consortium"), data: hours.map((h) => (total[h] ? total[h].accepted : null)), borderColor: "#7f8c8d" });
    }
    draw("chart-hours", { data: { labels: hours, datasets }, options: { animation: false, scales: { y: { beginAtZero: true } } } });
    const accepted = report.rows.reduce((sum, r) => sum + (r.accepted || 0), 0);
    $("validations-total").textContent = t("承認 ", "Accepted ") + num(accepted);
  }

  function renderShares(report) {
    const colours = ["#c0392b", "#1f6fb2", "#2e8b57", "#e67e22", "#8e44ad", "#7f8c8d"];
    draw("chart-shares", {
      type: "doughnut",
      data: { labels: report.shares.map((s) => operatorName(s.operator)), datasets: [{ data: report.shares.map((s) => s.yen), backgroundColor: colours }] },
      options: { animation: false },
    });
    const body = document.querySelector("#shares tbody");
    body.replaceChildren(...report.shares.map((s) => {
      const row = document.createElement("tr");
      row.dataset.operator = s.operator;
      [operatorName(s.operator), yen(s.yen), s.suppressed ? t("非表示", "suppressed") : num(s.validations)].forEach((v) => {
        const td = document.createElement("td");
        td.textContent = v;
        row.append(td);
      });
      return row;
    }));
    const total = document.createElement("tr");
    total.className = "total";
    [t("合計", "Total"), yen(report.revenue_yen), ""].forEach((v) => {
      const td = document.createElement("td");
      td.textContent = v;
      total.append(td);
    });
    body.append(total);
  }

  function render() {
    if (!shown) return;
    const { sales, hours, shares } = shown;
    $("privacy-note").textContent = t("乗車券が " + sales.k + " 枚未満のセルは数を表示しません。"
      + "配分は利用日、販売は支払日で数えます。",
    "Cells with fewer than " + sales.k + " passes are suppressed. Shares count passes by the "
      + "day of travel, sales by the day of payment.");
    renderSales(sales);
    renderHours(hours);
    renderShares(shares);
  }

  async function refresh() {
    const params = period();
    try {
      const [sales, hours, shares] = await Promise.all([
        call("/stats/sales", { ...params, group: "day" }),
        call("/stats/validations", { ...params, group: "hour" }),
        call("/stats/apportionment", params),
      ]);
      shown = { sales, hours, shares };
      render();
    } catch (error) {
      $("privacy-note").textContent = String(error.message);
      if (error.status === 401) signOut(String(error.message));
    }
  }

  async function download(button) {
    const params = { ...period(), group: button.dataset.group, format: "csv" };
    const blob = await call("/stats/" + button.dataset.stat, params, "text/csv");
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = button.dataset.stat + "-" + params.from + "-" + params.to + ".csv";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }

  async function operators() {
    const select = $("period-operator");
    const own = partner.operator;
    const chosen = select.value;
    const options = partner.role === "admin"
      ? [{ id: "" }, ...operatorList]
      : operatorList.filter((o) => o.id === own);
    select.replaceChildren(...options.map((o) => {
      const option = document.createElement("option");
      option.value = o.id;
      option.textContent = o.id ? operatorName(o.id) : t("すべて", "All operators");
      return option;
    }));
    select.disabled = partner.role !== "admin";
    select.value = own || chosen;
  }

  function renderPartner() {
    $("partner-name").textContent = partner.name;
    $("partner-role").textContent = partner.role === "admin" ? t("管理者", "administrator")
      : operatorName(partner.operator);
  }

  async function signIn() {
    try {
      partner = await call("/stats/me");
    } catch (error) {
      signOut(error.status === 401 ? t("APIキーが正しくありません", "This API key is not valid") : String(error.message));
      return;
    }
    $("partner-login").hidden = true;
    $("dashboard").hidden = false;
    operatorList = await api("/operators").catch(() => []);
    renderPartner();
    // the period ends today: today's sales show as soon as they are made
    const today = new Date();
    $("period-to").value = ymd(today);
    $("period-from").value = ymd(new Date(today.getTime() - 30 * 86400000));
    operators();
    await refresh();
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    partner = null;
    $("dashboard").hidden = true;
    $("partner-login").hidden = false;
    $("login-message").textContent = message || "";
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("api-key").value.trim());
    $("api-key").value = "";
    signIn();
  });
  $("period-form").addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
  $("logout").addEventListener("click", () => signOut(""));
  document.querySelectorAll("button.csv").forEach((button) =>
    button.addEventListener("click", () => download(button).catch((e) => { $("privacy-note").textContent = String(e.message); })));
  onLanguageChange(() => { // every text the script wrote, in the new language
    if (!partner) return;
    renderPartner();
    operators();
    render();
  });
  if (sessionStorage.getItem(KEY)) signIn();
}
