// The demo organization's dashboard: the six endpoints, called cross-origin like the platform's frontend.
"use strict";

const ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "Pacific/Auckland"];
const SVG = "http://www.w3.org/2000/svg";
const number = new Intl.NumberFormat("en-US");
let config;

function el(tag, attributes = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function figure(field, value) {
  return el("span", { "data-field": field, "data-value": String(value) }, number.format(value));
}

class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

async function getJson(url) {
  const response = await fetch(url, { headers: { Authorization: `Bearer ${config.token}` } });
  const body = await response.json();  // every answer of the API, errors included, is JSON
  if (!response.ok) throw new ApiError(response.status, body.detail);
  return { body, next: nextLink(response.headers.get("Link"), url) };
}

// RFC 8288: the target of rel="next", resolved against the request's URL (the API writes `<?cursor=...>`).
function nextLink(header, base) {
  for (const part of (header || "").split(",")) {
    const match = part.match(/<([^>]*)>\s*;.*\brel="?next"?/);
    if (match) return new URL(match[1], base).href;
  }
  return null;
}

async function allPages(url) {
  const items = [];
  let pages = 0;
  for (let next = url; next; pages += 1) {
    const page = await getJson(next);
    items.push(...page.body);
    next = page.next;
  }
  return { items, pages };
}

function endpoint(name, params) {
  const url = new URL(`/api/analytics/${name}/`, config.api);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.href;
}

function sparkline(points) {
  const width = 140, height = 28;
  const svg = el("svg:svg", { class: "spark", width, height, viewBox: `0 0 ${width} ${height}`, "data-points": points.length });
  if (points.length < 2) return svg;
  const counts = points.map((p) => p.count);
  const low = Math.min(...counts), high = Math.max(...counts), span = high - low || 1;
  const xy = counts.map((c, i) => `${(i * (width - 2)) / (counts.length - 1) + 1},${height - 2 - ((c - low) * (height - 4)) / span}`);
  svg.append(el("svg:polyline", { points: xy.join(" ") }), el("svg:title", {}, `${points[0].day}..${points.at(-1).day}: ${number.format(low)}..${number.format(high)}`));
  return svg;
}

function bar(percent, kind = "") {
  const inner = el("span");
  inner.style.width = `${Math.max(0, Math.min(100, percent))}%`;
  return el("span", { class: `bar ${kind}` }, inner);
}

function renderOverview(o) {
  const cards = [
    ["segment_count", "active segments"],
    ["total_members", "members in a segment"],
    ["events_30d", "events, last 30 days"],
    ["ai_credits_used", "AI credits used"],
  ];
  const section = document.getElementById("overview");
  section.replaceChildren(...cards.map(([key, label]) => el("div", { class: "card" },
    el("div", { class: "value" }, figure(`overview.${key}`, o[key])), el("div", { class: "label" }, label))));
  const limit = o.ai_credits_limit === -1 ? "unlimited" : figure("overview.ai_credits_limit", o.ai_credits_limit);
  section.lastChild.querySelector(".label").append(" of ", limit);
}

function renderSegments({ items, pages }) {
  document.getElementById("segments-note").textContent = `${items.length} active, ${pages} page(s)`;
  document.querySelector("#segments tbody").replaceChildren(...items.map((s) => el("tr", { "data-id": s.id },
    el("td", {}, s.name), el("td", { class: "num" }, figure("member_count", s.member_count)), el("td", {}, sparkline(s.trend)))));
}

function renderOverlap(pairs) {
  document.querySelector("#overlap tbody").replaceChildren(...pairs.map((p) => el("tr", { "data-pair": `${p.seg_a_id}-${p.seg_b_id}` },
    el("td", {}, p.seg_a_name), el("td", {}, p.seg_b_name), el("td", { class: "num" }, figure("overlap", p.overlap)),
    el("td", { class: "num", "data-field": "overlap_pct", "data-value": String(p.overlap_pct) }, `${p.overlap_pct.toFixed(1)} %`))));
}

function renderActivations({ items }) {
  document.querySelector("#activations tbody").replaceChildren(...items.map((a) => {
    const rate = a.success_rate;
    const health = rate === null ? el("span", { "data-field": "success_rate", "data-value": "null" }, "no syncs")
      : el("span", { "data-field": "success_rate", "data-value": String(rate) }, bar(rate, rate < 50 ? "bad" : rate < 90 ? "warn" : ""), `${rate} %`);
    return el("tr", { "data-id": a.id },
      el("td", {}, a.segment_name), el("td", {}, a.connector_type),
      el("td", { class: { active: "ok", error: "failing" }[a.status] || "" }, a.status), el("td", {}, health),
      el("td", {}, a.last_synced_at || "never"), el("td", { class: "error" }, a.last_error));
  }));
}

function renderCopilot(c, days) {
  document.getElementById("copilot-note").textContent = `${number.format(c.total)} requests ever; per day, last ${days} days`;
  const width = 520, height = 120, base = height - 14;
  const top = Math.max(1, ...c.daily.map((d) => d.success + d.error));
  const step = width / Math.max(1, c.daily.length);
  const svg = el("svg:svg", { class: "bars", width, height, viewBox: `0 0 ${width} ${height}` });
  c.daily.forEach((d, i) => {
    const x = i * step + 1, w = Math.max(1, step - 2);
    const hs = (d.success * (base - 4)) / top, he = (d.error * (base - 4)) / top;
    svg.append(el("svg:g", { "data-day": d.day, "data-success": d.success, "data-error": d.error },
      el("svg:rect", { class: "success", x, width: w, y: base - hs, height: hs }),
      el("svg:rect", { class: "error", x, width: w, y: base - hs - he, height: he }),
      el("svg:title", {}, `${d.day}: ${d.success} succeeded, ${d.error} failed`)));
  });
  if (c.daily.length) {
    svg.append(el("svg:text", { x: 0, y: height - 2 }, c.daily[0].day), el("svg:text", { x: width, y: height - 2, "text-anchor": "end" }, c.daily.at(-1).day));
  }
  document.getElementById("copilot").replaceChildren(el("div", {}, "Total: ", figure("copilot.total", c.total)), svg);
}

function renderUsage(u) {
  document.getElementById("usage-note").textContent = `${u.plan_name} (${u.plan_tier}), ${u.period_start} to ${u.period_end}`;
  document.getElementById("usage").replaceChildren(...["events", "users", "segments", "ai_credits"].map((key) => {
    const { used, limit } = u[key];
    const percent = limit > 0 ? (used * 100) / limit : 0;
    const of = limit === -1 ? el("span", { "data-field": `usage.${key}.limit`, "data-value": "-1" }, "unlimited") : figure(`usage.${key}.limit`, limit);
    return el("div", { class: "meter", "data-meter": key }, el("span", {}, key.replace("_", " ")),
      bar(limit === -1 ? 0 : percent, percent >= 100 ? "bad" : percent >= 80 ? "warn" : ""),
      el("span", {}, figure(`usage.${key}.used`, used), " of ", of));
  }));
}

function renderUsageMissing(error) {
  document.getElementById("usage-note").textContent = "";
  document.getElementById("usage").replaceChildren(el("p", { "data-field": "usage.detail" }, error.detail));
}

async function load() {
  const tz = document.getElementById("tz").value;
  const days = document.getElementById("days").value;
  const status = document.getElementById("status");
  document.body.dataset.state = "loading";
  status.className = "";
  status.textContent = `Loading (${tz}, ${days} days)...`;
  const results = await Promise.allSettled([
    getJson(endpoint("overview", { tz })).then(({ body }) => renderOverview(body)),
    allPages(endpoint("segments", { tz, days })).then(renderSegments),
    getJson(endpoint("overlap", {})).then(({ body }) => renderOverlap(body)),
    allPages(endpoint("activations", {})).then(renderActivations),
    getJson(endpoint("copilot", { tz, days })).then(({ body }) => renderCopilot(body, days)),
    getJson(endpoint("usage", {})).then(({ body }) => renderUsage(body), (error) => {
      if (error instanceof ApiError && error.status === 404) return renderUsageMissing(error);
      throw error;
    }),
  ]);
  const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
  if (failed.length) {
    status.className = "error";
    status.textContent = `Some parts failed: ${failed.join("; ")}`;
  } else {
    status.textContent = `Updated ${new Date().toLocaleTimeString("en-GB")} (${tz}, last ${days} days) from ${config.api}`;
  }
  document.body.dataset.state = failed.length ? "failed" : "ready";
}

async function main() {
  config = await (await fetch("/config.json")).json();
  const params = new URLSearchParams(location.search);
  const own = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const zones = [...new Set([...ZONES, own].filter(Boolean))];
  const tz = document.getElementById("tz");
  tz.replaceChildren(...zones.map((zone) => el("option", { value: zone }, zone === own ? `${zone} (yours)` : zone)));
  tz.value = zones.includes(params.get("tz")) ? params.get("tz") : "UTC";
  const days = document.getElementById("days");
  if (params.get("days")) days.value = params.get("days");
  for (const picker of [tz, days]) {
    picker.addEventListener("change", () => {
      history.replaceState(null, "", `?tz=${encodeURIComponent(tz.value)}&days=${days.value}`);
      load();
    });
  }
  await load();
}

main();
