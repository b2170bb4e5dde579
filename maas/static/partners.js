// Partner dashboard: sign in with the API key (kept in sessionStorage for this tab only),
// then charts of daily sales, validations by hour and operator shares, with CSV downloads.
// Chart.js is the classic vendor script before this module (global `Chart`).
/* global Chart */
import { $, api, pick as t, setupLanguage } from "./common.js";

setupLanguage();
{
  const KEY = "maas-partner-key";
  const yen = (n) => (n === null || n === undefined ? "—" : "¥" + n.toLocaleString("ja-JP"));
  const num = (n) => (n === null || n === undefined ? "—" : n.toLocaleString("ja-JP"));
  const charts = {};
  let partner = null;

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
    const passes = rows.reduce((sum, r) => sum + (r.passes || 0), 0);
    const revenue = rows.reduce((sum, r) => sum + (r.revenue_yen || 0), 0);
    const hidden = rows.filter((r) => r.suppressed).length;
    $("sales-total").textContent = t("合計 ", "Total ") + num(passes) + t(" 枚 / ", " passes / ") + yen(revenue)
      + (hidden ? t("(非表示のセル " + hidden + ")", " (" + hidden + " suppressed cells)") : "");
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
      data: { labels: report.shares.map((s) => s.operator), datasets: [{ data: report.shares.map((s) => s.yen), backgroundColor: colours }] },
      options: { animation: false },
    });
    const body = document.querySelector("#shares tbody");
    body.replaceChildren(...report.shares.map((s) => {
      const row = document.createElement("tr");
      row.dataset.operator = s.operator;
      [s.operator, yen(s.yen), s.suppressed ? t("非表示", "suppressed") : num(s.validations)].forEach((v) => {
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

  async function refresh() {
    const params = period();
    try {
      const [sales, hours, shares] = await Promise.all([
        call("/stats/sales", { ...params, group: "day" }),
        call("/stats/validations", { ...params, group: "hour" }),
        call("/stats/apportionment", params),
      ]);
      $("privacy-note").textContent = t("乗車券が " + sales.k + " 枚未満のセルは数を表示しません。", "Cells with fewer than " + sales.k + " passes are suppressed.");
      renderSales(sales);
      renderHours(hours);
      renderShares(shares);
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
    const list = await api("/operators").catch(() => []);
    const options = partner.role === "admin"
      ? [{ id: "", name: t("すべて", "All operators") }, ...list]
      : list.filter((o) => o.id === own);
    select.replaceChildren(...options.map((o) => {
      const option = document.createElement("option");
      option.value = o.id;
      option.textContent = o.id ? o.name + " (" + o.id + ")" : o.name;
      return option;
    }));
    select.disabled = partner.role !== "admin";
    if (own) select.value = own;
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
    $("partner-name").textContent = partner.name;
    $("partner-role").textContent = partner.role === "admin" ? t("管理者", "administrator") : partner.operator;
    const today = new Date();
    $("period-to").value = ymd(new Date(today.getTime() - 86400000));
    $("period-from").value = ymd(new Date(today.getTime() - 30 * 86400000));
    await operators();
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
  if (sessionStorage.getItem(KEY)) signIn();
}
