// Trip planning on the rider page (/app): from and to with the place search (GET /places,
// debounced, a keyboard-operable list) or the phone's position, depart at / arrive by, the
// modes, results as cards with a leg timeline, the chosen trip on a Leaflet map (self-hosted,
// loaded on the first result), and what the day's trips cost against a one-day pass. The last
// plan is kept in localStorage, so it stays readable offline. Realtime (docs/realtime.md): each
// ride shows its estimate beside the struck timetable time, a delay badge and its service
// alerts; a kept plan is searched again when the page opens online and says when a chosen trip
// no longer runs; the chosen trip's vehicles are drawn on the map, polled while it is shown.
/* global L */
import {
  $, api, lang, locale, onLanguageChange, pick, setLabel, setText, setupLanguage, useCatalogue,
} from "./common.js";
import translations from "./i18n.js";

useCatalogue(translations); // this module runs first on /app: its texts are translated at once

const PLAN_KEY = "maas-rider-plan"; // {query, document, chosen}: the last plan, shown offline
const DAY_KEY = "maas-rider-day"; // {date, trips: [{key, yen, label}]}: trips chosen for a day
const DEBOUNCE_MS = 250;
const VEHICLE_POLL_MS = 15000;
const GONE_WINDOW_MS = 30 * 60000; // a departure list reaching this far past a trip can say it is gone
const TOKYO = "Asia/Tokyo";
const script = document.querySelector("script[data-leaflet]");
const chosenPlace = { from: null, to: null }; // {id, name, lat, lon} or {here: true, ...}
let products = [];
let last = null; // {query, document, chosen}

// ---------------------------------------------------------------- formatting (Intl)
const clock = (iso) => new Intl.DateTimeFormat(locale(), { timeZone: TOKYO, hour: "2-digit",
  minute: "2-digit" }).format(new Date(iso));
const minutes = (seconds) => Math.round(seconds / 60);
const day = (iso) => new Intl.DateTimeFormat(locale(), { timeZone: TOKYO, month: "long",
  day: "numeric", weekday: "short" }).format(new Date(iso + "T12:00:00+09:00"));

const TAGS = {
  earliest: ["最も早く着く", "Arrives first"],
  fewest_transfers: ["乗り換えが最も少ない", "Fewest transfers"],
  cheapest: ["最も安い", "Cheapest"],
  no_taxi: ["タクシーを使わない", "No taxi"],
  least_walking: ["歩く距離が最も短い", "Least walking"],
  alternative: ["別の出発時刻・経路", "Another departure or route"],
};
const MODES = {
  walk: ["徒歩", "Walk"], bus: ["バス", "Bus"], tram: ["路面電車", "Tram"], rail: ["鉄道", "Train"],
  subway: ["地下鉄", "Subway"], ferry: ["船", "Ferry"], bike: ["まちのり", "Machinori bike"],
  taxi: ["タクシー", "Taxi"],
};
const KINDS = { stop: ["駅・バス停", "stop"], bike_station: ["まちのりポート", "bike port"],
  poi: ["名所", "place"] };
const COLOURS = { walk: "#5f5f5f", bike: "#2e8b57", taxi: "#e67e22" }; // transit: accent red
const RIDES = ["bus", "tram", "rail", "subway", "ferry"];
const isRide = (leg) => RIDES.includes(leg.mode) && Boolean(leg.trip_id);
// what a rider needs from an alert's GTFS-Realtime effect: no service, a delay, or information
const EFFECTS = { NO_SERVICE: ["運休", "Canceled"], SIGNIFICANT_DELAYS: ["遅延", "Delays"] };
const INFORMATION = ["情報", "Info"];

// ---------------------------------------------------------------- the place search
function placeField(end) {
  const input = $(`plan-${end}`);
  const list = $(`plan-${end}-list`);
  let timer = null;
  let found = [];
  let active = -1;
  let asked = 0;

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }
  function mark(index) {
    active = index;
    [...list.children].forEach((item, i) => item.setAttribute("aria-selected", String(i === index)));
    if (index >= 0) input.setAttribute("aria-activedescendant", list.children[index].id);
  }
  function choose(place) {
    chosenPlace[end] = place;
    input.value = place.name;
    close();
  }
  async function search() {
    const q = input.value.trim();
    if (!q) { close(); return; }
    const ticket = ++asked;
    const near = chosenPlace.from && end === "to" ? `&near=${chosenPlace.from.lat},${chosenPlace.from.lon}` : "";
    let places;
    try {
      places = await api(`/places?q=${encodeURIComponent(q)}&lang=${lang()}&limit=8${near}`);
    } catch {
      return; // offline or a refused query: the list stays as it was
    }
    if (ticket !== asked) return; // a later keystroke's answer wins
    found = places;
    list.replaceChildren(...places.map((place, i) => {
      const item = document.createElement("li");
      item.id = `plan-${end}-option-${i}`;
      item.setAttribute("role", "option");
      item.dataset.placeId = place.id;
      item.textContent = place.name;
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = pick(...(KINDS[place.kind] || [place.kind, place.kind]));
      item.append(kind);
      item.addEventListener("mousedown", (event) => { event.preventDefault(); choose(place); });
      return item;
    }));
    list.hidden = places.length === 0;
    input.setAttribute("aria-expanded", String(places.length > 0));
    mark(-1);
  }
  input.addEventListener("input", () => {
    chosenPlace[end] = null;
    clearTimeout(timer);
    timer = setTimeout(search, DEBOUNCE_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown") { event.preventDefault(); mark(Math.min(active + 1, found.length - 1)); }
    else if (event.key === "ArrowUp") { event.preventDefault(); mark(Math.max(active - 1, 0)); }
    else if (event.key === "Enter" && active >= 0) { event.preventDefault(); choose(found[active]); }
    else if (event.key === "Escape") close();
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
  return { choose, first: () => found[0] };
}

// ---------------------------------------------------------------- planning
function endpoint(place) {
  if (place.here || !place.id) return `${place.lat.toFixed(6)},${place.lon.toFixed(6)}`;
  return `place:${place.id}`;
}

async function plan(event) {
  event.preventDefault();
  const message = $("plan-message");
  for (const end of ["from", "to"]) {
    if (!chosenPlace[end]) {
      const first = fields[end].first();
      if (first && $(`plan-${end}`).value.trim()) fields[end].choose(first);
    }
  }
  if (!chosenPlace.from || !chosenPlace.to) {
    setText(message, "出発地と目的地を候補から選んでください。", "Choose the start and the destination from the list.");
    return;
  }
  const modes = ["walk", ...[...document.querySelectorAll("input[name=mode]:checked")]
    .flatMap((box) => (box.value === "bus" ? ["bus", "tram", "rail"] : [box.value]))];
  // names in the page's language; each leg's line along the GTFS shape for the map
  const params = new URLSearchParams({ from: endpoint(chosenPlace.from), to: endpoint(chosenPlace.to),
    modes: modes.join(","), lang: lang(), geometry: "1" });
  const time = $("plan-time").value;
  if (time) params.set($("plan-when").value, time);
  setText(message, "検索しています…", "Searching…");
  $("plan-button").disabled = true;
  try {
    const answer = await api(`/plan?${params}`);
    last = { query: { from: chosenPlace.from.name, to: chosenPlace.to.name,
      params: params.toString() }, document: answer, chosen: 0 };
    $("plan-notice").replaceChildren();
    $("plan-notice").hidden = true;
    const cheapest = answer.itineraries.findIndex((it) => (it.tags || []).includes("cheapest"));
    last.chosen = Math.max(0, cheapest);
    localStorage.setItem(PLAN_KEY, JSON.stringify(last));
    if (!answer.itineraries.length) {
      setText(message, "経路が見つかりませんでした。", "No trip found.");
    } else {
      message.textContent = "";
    }
    renderPlan();
  } catch (error) {
    if (error.message) setText(message, error.message, error.message);
    else setText(message, "通信できません。", "No connection.");
  } finally {
    $("plan-button").disabled = false;
  }
}

function here() {
  const message = $("plan-message");
  if (!("geolocation" in navigator)) {
    setText(message, "この端末では現在地を使えません。", "This phone cannot tell where you are.");
    return;
  }
  setText(message, "現在地を調べています…", "Finding where you are…");
  navigator.geolocation.getCurrentPosition((position) => {
    const name = pick("現在地", "Where I am");
    chosenPlace.from = { here: true, name, lat: position.coords.latitude, lon: position.coords.longitude };
    $("plan-from").value = name;
    message.textContent = "";
  }, () => setText(message, "現在地を使えませんでした。", "Your position is not available."),
  { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
}

// ---------------------------------------------------------------- fares and the day pass
const legOperator = (leg) => leg.agency_id || leg.operator_id;
function fareWith(itinerary, product) { // the legs a pass does not cover still cost money
  return itinerary.legs.reduce((sum, leg) => sum
    + (product && product.operators.includes(legOperator(leg)) ? 0 : leg.fare_yen), 0);
}
function productFor(itinerary) { // the cheapest one-day pass covering every paid leg
  const paid = itinerary.legs.filter((leg) => leg.fare_yen > 0).map(legOperator);
  return products.filter((p) => paid.every((op) => p.operators.includes(op)))
    .sort((a, b) => a.prices.adult - b.prices.adult)[0] || null;
}

function loadDay() { return JSON.parse(localStorage.getItem(DAY_KEY) || "null"); }
function addToDay(itinerary) {
  let saved = loadDay();
  if (!saved || saved.date !== itinerary.service_date) saved = { date: itinerary.service_date, trips: [] };
  const key = itinerary.departure + itinerary.legs.map((leg) => leg.mode).join("-");
  if (!saved.trips.some((trip) => trip.key === key)) {
    saved.trips.push({ key, yen: itinerary.fare.total_yen,
      operators: itinerary.legs.filter((leg) => leg.fare_yen > 0).map(legOperator),
      label: `${clock(itinerary.departure)} ${last.query.from} → ${last.query.to}` });
  }
  localStorage.setItem(DAY_KEY, JSON.stringify(saved));
  renderDay();
}

function renderDay() {
  const saved = loadDay();
  const box = $("plan-day");
  box.hidden = !saved || !saved.trips.length;
  if (box.hidden) return;
  const total = saved.trips.reduce((sum, trip) => sum + trip.yen, 0);
  const operators = saved.trips.flatMap((trip) => trip.operators);
  const pass = products.filter((p) => operators.every((op) => p.operators.includes(op)))
    .sort((a, b) => a.prices.adult - b.prices.adult)[0];
  box.dataset.date = saved.date;
  box.dataset.totalYen = String(total);
  box.dataset.product = pass ? pass.code : "";
  const trips = saved.trips.length;
  const head = pick("{day}：{trips} 件の経路、乗車券なしで {total:yen}",
    trips > 1 ? "{day}: {trips} trips, {total:yen} without a pass"
      : "{day}: 1 trip, {total:yen} without a pass", { day: day(saved.date), trips, total });
  let verdict = "";
  if (pass) {
    const price = pass.prices.adult;
    const name = pick(pass.name, pass.name_en);
    box.dataset.recommend = String(price < total);
    const values = { name, price, saved: total - price };
    verdict = price < total
      ? pick("。{name}（{price:yen}）なら {saved:yen} お得です。",
        ". {name} ({price:yen}) saves you {saved:yen}.", values)
      : pick("。{name}（{price:yen}）より安く乗れます。", ". Cheaper than {name} ({price:yen}).",
        values);
  }
  $("plan-day-sum").textContent = head + verdict;
  $("plan-buy").hidden = !pass;
}

function buyForDay() {
  const box = $("plan-day");
  const product = $("buy-product");
  if (product && box.dataset.product) product.value = box.dataset.product;
  if ($("buy-date")) $("buy-date").value = box.dataset.date;
  const form = $("buy-form");
  const target = form && !form.hidden ? form : $("account");
  target.scrollIntoView();
  const focus = form && !form.hidden ? $("buy-card") : $("auth-email");
  if (focus) focus.focus();
}

// ---------------------------------------------------------------- the results
function legText(leg) {
  const [ja, en] = MODES[leg.mode] || [leg.mode, leg.mode];
  const from = pick(leg.from.name, leg.from.name_en || leg.from.name);
  const to = pick(leg.to.name, leg.to.name_en || leg.to.name);
  if (["bus", "tram", "rail", "subway", "ferry"].includes(leg.mode)) {
    const headsign = leg.headsign ? pick("{headsign} 行き", "to {headsign}", leg) : "";
    const route = [leg.route_short_name, headsign].filter(Boolean).join(" ");
    const stop = { from, to, stop: leg.from.stop_id };
    return [`${pick(ja, en)} ${route}`, leg.from.stop_id
      ? pick("{from} のりば（{stop}）→ {to}", "{from} (stop {stop}) → {to}", stop)
      : `${from} → ${to}`];
  }
  if (leg.mode === "bike") {
    const a = leg.availability;
    const note = a ? pick("貸出ポートの自転車 {bikes} 台・返却ポートの空き {docks}（{time} 時点）",
      "{bikes} bikes at the start, {docks} free docks at the end (as of {time})",
      { bikes: a.bikes_at_pickup, docks: a.docks_at_dropoff ?? "?", time: clock(a.as_of) }) : "";
    return [`${pick(ja, en)} ${from} → ${to}`, note];
  }
  if (leg.mode === "taxi") {
    const wait = leg.wait_s ? pick("迎車 約{n}分", "pick-up in about {n} min",
      { n: minutes(leg.wait_s) }) : "";
    return [`${pick(ja, en)} ${from} → ${to}`, [wait, leg.booking].filter(Boolean).join(" · ")];
  }
  const metres = leg.distance_m ? ` ${leg.distance_m} m` : "";
  return [`${pick(ja, en)}${metres} ${from} → ${to}`, ""];
}

/** A ride's departure: the estimate, after the timetable's time struck through when the
 * minute shown differs (both as Intl writes them). */
function rideTime(leg) {
  const span = document.createElement("span");
  span.className = "leg-time";
  const estimate = document.createElement("time");
  estimate.dateTime = leg.departure;
  estimate.textContent = clock(leg.departure);
  const scheduled = leg.scheduled_departure;
  if (scheduled && clock(scheduled) !== clock(leg.departure)) {
    const struck = document.createElement("del");
    struck.className = "scheduled";
    const label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = pick("時刻表", "timetable");
    struck.append(label, clock(scheduled));
    estimate.className = "estimate";
    span.append(struck, " ", estimate);
  } else {
    span.append(estimate);
  }
  return span;
}

/** Whole minutes between the timetable's and the estimated departure, as the clock shows
 * them (so the badge and the two times never disagree). */
export function minutesLate(leg) {
  if (!leg.scheduled_departure) return 0;
  const minute = (iso) => Math.floor(Date.parse(iso) / 60000);
  return minute(leg.departure) - minute(leg.scheduled_departure);
}

/** The delay badge of a ride with realtime (late, early, on time); null without realtime. */
function delayBadge(leg) {
  if (!leg.realtime) return null;
  const badge = document.createElement("strong");
  const late = minutesLate(leg);
  badge.className = "rt-badge";
  if (late > 0) {
    badge.classList.add("late");
    badge.textContent = pick("{n}分遅れ", "{n} min late", { n: late });
  } else if (late < 0) {
    badge.classList.add("early");
    badge.textContent = pick("{n}分早発", "{n} min early", { n: -late });
  } else {
    badge.classList.add("on-time");
    badge.textContent = pick("定刻", "On time");
  }
  return badge;
}

/** Service alerts of a ride: the kind and the header, the description when tapped. */
function alertList(alerts) {
  const list = document.createElement("ul");
  list.className = "leg-alerts";
  list.replaceChildren(...alerts.map((alert) => {
    const li = document.createElement("li");
    li.dataset.effect = alert.effect;
    li.dataset.alertId = alert.id;
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    const kind = document.createElement("strong");
    kind.className = "alert-kind";
    kind.textContent = pick(...(EFFECTS[alert.effect] || INFORMATION));
    summary.append(kind, " ", alert.header || "");
    details.append(summary);
    if (alert.description) {
      const text = document.createElement("p");
      text.textContent = alert.description;
      details.append(text);
    }
    li.append(details);
    return li;
  }));
  return list;
}

function card(itinerary, index) {
  const item = document.createElement("li");
  item.dataset.index = String(index);
  item.dataset.fareYen = String(itinerary.fare.total_yen);
  if (index === last.chosen) item.setAttribute("aria-current", "true");
  const head = document.createElement("p");
  head.className = "itinerary-head";
  const times = document.createElement("span");
  times.textContent = `${clock(itinerary.departure)} → ${clock(itinerary.arrival)}`;
  const length = document.createElement("span");
  length.textContent = pick("{n}分", "{n} min", { n: minutes(itinerary.duration_s) });
  head.append(times, length);
  const facts = document.createElement("p");
  const product = productFor(itinerary);
  const withPass = product ? fareWith(itinerary, product) : null;
  facts.className = "itinerary-facts";
  const values = { transfers: itinerary.transfers, walk: itinerary.walk_m,
    fare: itinerary.fare.total_yen, pass: product ? pick(product.name, product.name_en) : "",
    withPass };
  facts.textContent = pick("乗り換え {transfers} 回 · 徒歩 {walk} m · {fare:yen}",
    itinerary.transfers === 1 ? "1 transfer · walk {walk} m · {fare:yen}"
      : "{transfers} transfers · walk {walk} m · {fare:yen}", values)
    + (product ? pick("（{pass}なら {withPass:yen}）", " ({withPass:yen} with the {pass})", values) : "");
  const tags = document.createElement("ul");
  tags.className = "tags";
  tags.setAttribute("aria-label", pick("この経路の特徴", "Why this trip"));
  tags.replaceChildren(...(itinerary.tags || []).map((tag) => {
    const li = document.createElement("li");
    li.dataset.tag = tag;
    li.textContent = pick(...(TAGS[tag] || [tag, tag]));
    return li;
  }));
  const timeline = document.createElement("ol");
  timeline.className = "timeline";
  const shown = new Set(); // an alert touching two rides of the trip is shown at the first
  const alertCount = new Set(itinerary.legs.flatMap((leg) => (leg.alerts || []).map((a) => a.id)));
  item.dataset.alerts = String(alertCount.size);
  timeline.replaceChildren(...itinerary.legs.map((leg) => {
    const li = document.createElement("li");
    li.dataset.mode = leg.mode;
    const [main, note] = legText(leg);
    if (isRide(leg)) {
      Object.assign(li.dataset, { tripId: leg.trip_id, routeId: leg.route_id || "",
        realtime: String(Boolean(leg.realtime)), delayS: String(leg.delay_s ?? 0) });
      li.append(rideTime(leg), " ", main);
      const badge = delayBadge(leg);
      if (badge) li.append(" ", badge);
    } else {
      li.textContent = `${clock(leg.departure)} ${main}`;
    }
    if (note) {
      const small = document.createElement("span");
      small.className = "leg-note";
      small.textContent = note;
      li.append(small);
    }
    const fresh = (leg.alerts || []).filter((alert) => !shown.has(alert.id));
    fresh.forEach((alert) => shown.add(alert.id));
    if (fresh.length) li.append(alertList(fresh));
    return li;
  }));
  const choose = document.createElement("button");
  choose.type = "button";
  choose.className = "secondary choose-trip";
  choose.textContent = pick("この経路にする", "Choose this trip");
  choose.addEventListener("click", () => {
    last.chosen = index;
    localStorage.setItem(PLAN_KEY, JSON.stringify(last));
    addToDay(itinerary);
    renderPlan();
  });
  item.append(head, facts, tags, timeline, choose);
  return item;
}

function renderPlan() {
  if (!last) return;
  const list = $("plan-results");
  list.replaceChildren(...last.document.itineraries.map(card));
  list.dataset.count = String(last.document.itineraries.length);
  const chosen = last.document.itineraries[last.chosen];
  if (!chosen) stopVehicles();
  if (chosen) drawMap(chosen).then(() => watchVehicles(chosen)).catch((error) => {
    setText($("plan-message"), "地図を表示できません：{reason}", "Cannot draw the map: {reason}",
      { reason: error.message });
  });
}

// ---------------------------------------------------------------- the map
/** The itinerary as GeoJSON: each leg's line (its shape when the plan has one, else a straight
 * line) and a point for each stop and bike port it touches. */
export function itineraryGeoJson(itinerary) {
  const features = [];
  const points = new Map();
  for (const leg of itinerary.legs) {
    const coordinates = leg.geometry && leg.geometry.coordinates
      ? leg.geometry.coordinates : [[leg.from.lon, leg.from.lat], [leg.to.lon, leg.to.lat]];
    features.push({ type: "Feature", properties: { kind: "leg", mode: leg.mode },
      geometry: { type: "LineString", coordinates } });
    for (const [end, station] of [[leg.from, leg.pickup_station_id], [leg.to, leg.dropoff_station_id]]) {
      const kind = station ? "bike_station" : end.stop_id ? "stop" : null;
      if (!kind) continue;
      const key = `${end.lat},${end.lon}`;
      if (!points.has(key)) {
        points.set(key, { type: "Feature", properties: { kind, name: end.name, stop_id: end.stop_id || null },
          geometry: { type: "Point", coordinates: [end.lon, end.lat] } });
      }
    }
  }
  return { type: "FeatureCollection", features: [...features, ...points.values()] };
}

let leaflet = null; // {map, layer, network}
function loadLeaflet() {
  if (typeof L !== "undefined") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = script.dataset.leafletCss;
    document.head.append(css);
    const tag = document.createElement("script");
    tag.src = script.dataset.leaflet;
    tag.onload = () => resolve();
    tag.onerror = () => reject(new Error("leaflet.js (maas assets)"));
    document.head.append(tag);
  });
}

async function drawMap(itinerary) {
  const box = $("plan-map");
  box.hidden = false;
  await loadLeaflet();
  if (!leaflet) {
    const map = L.map(box, { zoomControl: true, attributionControl: Boolean(box.dataset.style) });
    if (box.dataset.style) L.tileLayer(box.dataset.style, { maxZoom: 19 }).addTo(map);
    leaflet = { map, layer: null, network: null };
    // the lines, stops, ports and on-demand areas under the trip (not clickable: the trip is)
    api(`/map/network?lang=${encodeURIComponent(lang())}`).then((network) => {
      leaflet.network = L.geoJSON(network, {
        interactive: false,
        style: (f) => (f.geometry.type === "Polygon" || f.geometry.type === "MultiPolygon"
          ? { color: "#e67e22", weight: 1, fillOpacity: 0.08 } : { color: "#9e9e9e", weight: 2, opacity: 0.6 }),
        pointToLayer: (f, at) => L.circleMarker(at, { radius: 2, color: "#9e9e9e", weight: 1,
          interactive: false }),
      }).addTo(map);
      leaflet.network.bringToBack();
      box.dataset.networkFeatures = String(network.features.length);
    }).catch(() => {});
  }
  const geojson = itineraryGeoJson(itinerary);
  if (leaflet.layer) leaflet.layer.remove();
  leaflet.layer = L.geoJSON(geojson, {
    style: (f) => ({ color: COLOURS[f.properties.mode] || "#9c2b2b", weight: 5,
      dashArray: f.properties.mode === "walk" ? "4 6" : null }),
    pointToLayer: (f, at) => L.circleMarker(at, { radius: 6, weight: 2, color: "#fff",
      fillColor: f.properties.kind === "bike_station" ? "#2e8b57" : "#9c2b2b", fillOpacity: 1 }),
    onEachFeature: (f, layer) => { if (f.properties.name) layer.bindTooltip(f.properties.name); },
  }).addTo(leaflet.map);
  leaflet.map.invalidateSize();
  leaflet.map.fitBounds(leaflet.layer.getBounds(), { padding: [24, 24] });
  const count = (kind) => geojson.features.filter((f) => f.properties.kind === kind).length;
  box.dataset.features = String(geojson.features.length);
  box.dataset.legs = String(count("leg"));
  box.dataset.stops = String(count("stop"));
  box.dataset.bikeStations = String(count("bike_station"));
  box.dataset.drawnLayers = String(leaflet.layer.getLayers().length);
}

// ---------------------------------------------------------------- vehicles on the map
let vehicles = null; // {key, routes: [{route_id, name}], layer, timer}

/** Poll the positions of the vehicles on the chosen trip's routes while the trip is shown. */
function watchVehicles(itinerary) {
  const routes = [];
  for (const leg of itinerary.legs.filter(isRide)) {
    if (leg.route_id && !routes.some((r) => r.id === leg.route_id)) {
      routes.push({ id: leg.route_id, name: leg.route_short_name || leg.route_long_name || "" });
    }
  }
  const key = routes.map((r) => r.id).join(" ");
  if (vehicles && vehicles.key === key) { pollVehicles(); return; } // a redraw, same routes
  stopVehicles();
  if (!routes.length) return;
  vehicles = { key, routes, layer: L.layerGroup().addTo(leaflet.map), timer: null, ticket: 0 };
  resumeVehicles();
}

function stopVehicles() {
  if (!vehicles) return;
  clearInterval(vehicles.timer);
  vehicles.layer.remove();
  vehicles = null;
  const box = $("plan-map");
  delete box.dataset.vehicles;
  delete box.dataset.vehiclesStale;
}

function resumeVehicles() {
  if (!vehicles || vehicles.timer) return;
  pollVehicles();
  vehicles.timer = setInterval(pollVehicles, VEHICLE_POLL_MS);
}

function pauseVehicles() {
  if (!vehicles) return;
  clearInterval(vehicles.timer);
  vehicles.timer = null;
}

/** How old a reported position is, as a rider reads it. */
function age(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return seconds < 60 ? pick("たった今", "just now")
    : pick("{n}分前", "{n} min ago", { n: Math.floor(seconds / 60) });
}

async function pollVehicles() {
  const box = $("plan-map");
  if (!vehicles || document.hidden || box.hidden) return;
  const current = vehicles;
  const ticket = ++current.ticket;
  let lists;
  try {
    lists = await Promise.all(current.routes.map((route) => api(
      `/vehicles?route=${encodeURIComponent(route.id)}`)));
  } catch {
    // offline or refused: the last positions stay, marked as not current
    if (current !== vehicles) return;
    box.dataset.vehiclesStale = "true";
    current.layer.eachLayer((marker) => {
      const element = marker.getElement();
      if (element) element.classList.add("stale");
    });
    return;
  }
  if (current !== vehicles || ticket !== current.ticket) return; // another trip, or a later poll
  current.layer.clearLayers();
  let count = 0;
  current.routes.forEach((route, i) => {
    for (const vehicle of lists[i] || []) {
      const label = document.createElement("span");
      label.className = "vehicle-label";
      label.textContent = route.name;
      const when = document.createElement("span");
      when.className = "vehicle-age";
      when.textContent = vehicle.as_of ? age(vehicle.as_of) : "";
      const html = document.createElement("div");
      html.append(label, when);
      html.dataset.routeId = route.id;
      html.dataset.vehicleId = vehicle.id;
      const icon = L.divIcon({ className: "vehicle-marker", html, iconSize: null });
      const marker = L.marker([vehicle.lat, vehicle.lon], { icon, keyboard: false,
        title: pick("{route} の車両（{age}）", "{route} vehicle ({age})",
          { route: route.name, age: when.textContent }) });
      current.layer.addLayer(marker);
      count += 1;
    }
  });
  box.dataset.vehicles = String(count);
  box.dataset.vehiclesStale = "false";
}

// ---------------------------------------------------------------- the kept plan, again
/** Whether a ride of a kept plan no longer runs: its boarding stop's departures around its
 * time leave it out (canceled trip, skipped stop). Null when the list cannot tell. */
async function rideGone(leg) {
  if (!leg.from.stop_id) return null;
  const time = Date.parse(leg.scheduled_departure || leg.departure);
  const at = new Date(Math.min(time, Date.parse(leg.departure)) - 10 * 60000);
  const limit = 100;
  let rows;
  try {
    rows = (await api(`/stops/${encodeURIComponent(leg.from.stop_id)}/departures?at=${
      encodeURIComponent(at.toISOString())}&limit=${limit}`)).departures;
  } catch {
    return null;
  }
  if (rows.some((row) => row.trip_id === leg.trip_id && row.service_date === leg.service_date)) {
    return false;
  }
  // the list holds the whole rest of that service day, or reaches well past the trip
  const sameDay = rows.some((row) => row.service_date === leg.service_date);
  const reaches = rows.length < limit
    || Date.parse(rows[rows.length - 1].departure) > time + GONE_WINDOW_MS;
  return sameDay && reaches ? true : null;
}

/** Search the kept plan again (its estimates and alerts are old news): the fresh answer
 * replaces it, the chosen trip stays chosen when it is offered again, and a ride of the
 * chosen trip that no longer runs is said so. */
async function recheck() {
  if (!last || !last.query.params || !navigator.onLine) return;
  const [asked, choice] = [last, last.chosen];
  const params = new URLSearchParams(last.query.params);
  params.set("lang", lang());
  let answer;
  try {
    answer = await api(`/plan?${params}`);
  } catch {
    return; // the kept plan stays as it is
  }
  const rideKey = (leg) => `${leg.trip_id} ${leg.service_date} ${leg.from.stop_id}`;
  const before = last.document.itineraries[last.chosen];
  const rides = before ? before.legs.filter(isRide) : [];
  const offered = new Set(answer.itineraries.flatMap((it) => it.legs.filter(isRide).map(rideKey)));
  const gone = [];
  for (const leg of rides.filter((ride) => !offered.has(rideKey(ride)))) {
    if (await rideGone(leg)) gone.push(leg);
  }
  if (last !== asked || last.chosen !== choice) return; // the rider planned or chose meanwhile
  const same = (it) => rides.length > 0 && it.legs.filter(isRide).map(rideKey).join()
    === rides.map(rideKey).join();
  const kept = answer.itineraries.findIndex(same);
  const cheapest = answer.itineraries.findIndex((it) => (it.tags || []).includes("cheapest"));
  last = { ...last, document: answer, chosen: kept >= 0 ? kept : Math.max(0, cheapest) };
  localStorage.setItem(PLAN_KEY, JSON.stringify(last));
  const notice = $("plan-notice");
  notice.replaceChildren(...gone.map((leg) => {
    const line = document.createElement("p");
    line.dataset.tripId = leg.trip_id;
    setText(line, "{time} {stop} 発の {route} は運行しなくなりました（運休または通過）。経路を検索し直しました。",
      "The {time} {route} from {stop} no longer runs (canceled or not stopping there). "
      + "Your trip was searched again.", { time: clock(leg.scheduled_departure || leg.departure),
        stop: leg.from.name, route: leg.route_short_name || leg.route_long_name || "" });
    return line;
  }));
  notice.hidden = gone.length === 0;
  notice.dataset.gone = String(gone.length);
  renderPlan();
}

// ---------------------------------------------------------------- start
const fields = { from: placeField("from"), to: placeField("to") };

async function start() {
  setupLanguage();
  $("plan-form").addEventListener("submit", plan);
  $("plan-here").addEventListener("click", here);
  $("plan-buy").addEventListener("click", buyForDay);
  $("plan-day-clear").addEventListener("click", () => {
    localStorage.removeItem(DAY_KEY);
    renderDay();
  });
  setLabel($("plan-map"), "経路の地図", "Map of the trip");
  onLanguageChange(() => { renderPlan(); renderDay(); });
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) pauseVehicles();
    else resumeVehicles();
  });
  window.addEventListener("online", () => { recheck(); });
  try {
    last = JSON.parse(localStorage.getItem(PLAN_KEY) || "null");
  } catch {
    last = null;
  }
  products = await api("/products").catch(() => []);
  if (last) {
    $("plan-from").value = last.query.from;
    $("plan-to").value = last.query.to;
    renderPlan(); // the last plan, readable with no network
  }
  renderDay();
  document.body.dataset.planReady = "true";
  await recheck();
  document.body.dataset.planChecked = "true";
}

start();
