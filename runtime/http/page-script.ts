/**
 * The console's script (plain browser JavaScript, kept as a string so the
 * page is one response inside the executable). A hash router renders one of
 * five views (overview, tube, job, workers, schedules) from the JSON API and
 * re-renders the live parts every 2 s when their data changed. Every value
 * from the server is inserted as text, never as HTML. Actions are POSTs with
 * the page's CSRF token and, when the console asks for one, the operator's
 * token (kept in sessionStorage for this tab only).
 */
export const PAGE_SCRIPT = String.raw`
"use strict";
const CSRF = document.querySelector('meta[name="beanrun-csrf"]').content;
const main = document.getElementById("main");
const POLL_MS = 2000;
let token = sessionStorage.getItem("beanrun-token") || "";
let view = null, timer = 0, lastData = "";

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) e.append(k instanceof Node ? k : String(k));
  return e;
}
const fmt = (n) => Number(n).toLocaleString("en");
const tubeHref = (name, state, page) => "#/tube/" + encodeURIComponent(name) + (state ? "/" + state + (page ? "/" + page : "") : "");
function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return s + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  if (s < 172800) return Math.round(s / 3600) + " h";
  return Math.round(s / 86400) + " d";
}
const when = (t) => (t ? new Date(t).toLocaleString() + " (" + (t > Date.now() ? "in " + ago(t - Date.now()) : ago(Date.now() - t) + " ago") + ")" : "–");

function headers(extra) {
  const h = Object.assign({ "x-beanrun-csrf": CSRF }, extra || {});
  if (token) h.authorization = "Bearer " + token;
  return h;
}
async function get(path) {
  const r = await fetch(path, { headers: headers(), cache: "no-store" });
  const body = await r.json().catch(() => ({ message: r.statusText }));
  if (!r.ok) throw new Error(body.message || r.statusText);
  return body;
}
async function post(path, data) {
  const r = await fetch(path, { method: "POST", headers: headers({ "content-type": "application/json" }), body: JSON.stringify(data) });
  const body = await r.json().catch(() => ({ ok: false, message: r.status + " " + r.statusText }));
  if (r.status === 401) askToken(body.message);
  return body;
}
function toast(msg, bad) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.className = "show" + (bad ? " bad" : "");
  clearTimeout(toast.t);
  toast.t = setTimeout(() => (t.className = ""), 5000);
}
async function act(data, btn) {
  if (btn) btn.disabled = true;
  try {
    const r = await post("api/action", data);
    toast(r.message || (r.ok ? "done" : "refused"), !r.ok);
    lastData = "";
    await refresh();
    return r;
  } catch (e) {
    toast("cannot reach the server: " + e.message, true);
  } finally {
    if (btn) btn.disabled = false;
  }
}
function askToken(why) {
  const t = prompt((why ? why + "\n\n" : "") + "Console token (--http-token):", token);
  if (t === null) return;
  token = t.trim();
  sessionStorage.setItem("beanrun-token", token);
  lastData = "";
  refresh();
}
document.getElementById("token-btn").addEventListener("click", () => askToken(""));
document.getElementById("search").addEventListener("submit", (e) => {
  e.preventDefault();
  const id = document.getElementById("search-id").value.trim();
  if (/^\d+$/.test(id)) location.hash = "#/job/" + id;
  else toast("a job id is a whole number", true);
});

function confirmTyped(text, expected) {
  const d = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  const input = document.getElementById("confirm-input");
  input.value = "";
  input.placeholder = expected;
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok" ? input.value : null), { once: true });
    d.showModal();
  });
}

// ---- views -----------------------------------------------------------------

function cards(list) {
  return el("div", { class: "cards" }, list.map(([k, v, cls]) => el("div", { class: "card" }, el("b", { class: cls }, typeof v === "number" ? fmt(v) : v), el("span", {}, k))));
}
function chart(hour) {
  const W = 600, H = 120, n = hour.length, bw = W / n;
  const max = Math.max(1, ...hour.map((m) => m.done + m.failed));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 " + W + " " + (H + 14));
  svg.setAttribute("class", "chart");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "jobs done and failed per minute, last hour");
  const rect = (x, y, w, h, fill, title) => {
    const r = document.createElementNS(svg.namespaceURI, "rect");
    for (const [k, v] of Object.entries({ x, y, width: w, height: h, fill })) r.setAttribute(k, v);
    const t = document.createElementNS(svg.namespaceURI, "title");
    t.textContent = title;
    r.append(t);
    svg.append(r);
  };
  hour.forEach((m, i) => {
    const hd = (m.done / max) * H, hf = (m.failed / max) * H;
    const label = new Date(m.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) + ": " + m.done + " done, " + m.failed + " failed";
    if (hd) rect(i * bw + 1, H - hd, bw - 2, hd, "#12b76a", label);
    if (hf) rect(i * bw + 1, H - hd - hf, bw - 2, hf, "#f04438", label);
  });
  const axis = document.createElementNS(svg.namespaceURI, "text");
  axis.setAttribute("x", "0");
  axis.setAttribute("y", String(H + 12));
  axis.setAttribute("font-size", "10");
  axis.setAttribute("fill", "#5d6673");
  axis.textContent = "−60 min · peak " + max + "/min";
  svg.append(axis);
  return el("div", { class: "box" }, el("h3", {}, "Jobs per minute, last hour"), svg,
    el("div", { class: "legend" }, el("span", {}, el("i", { style: "background:#12b76a" }), "done"), el("span", {}, el("i", { style: "background:#f04438" }), "failed")));
}
function table(head, rows) {
  return el("div", { class: "scroll" }, el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))), el("tbody", {}, rows)));
}

function renderOverview(d) {
  const s = d.stats, o = d.outcomes;
  const done = Object.values(o).reduce((a, t) => a + t.done, 0), failed = Object.values(o).reduce((a, t) => a + t.failed, 0);
  const rows = s.tubes.map((t) => el("tr", {},
    el("td", {}, el("a", { href: tubeHref(t.name) }, t.name), t.pausedSecondsLeft ? el("span", { class: "warnc" }, " paused " + t.pausedSecondsLeft + " s") : null),
    el("td", {}, fmt(t.ready)), el("td", {}, fmt(t.reserved)), el("td", {}, fmt(t.delayed)), el("td", { class: t.buried ? "bad" : "" }, fmt(t.buried)),
    el("td", {}, fmt(t.waiting)), el("td", {}, o[t.name] ? fmt(o[t.name].done) : "–"), el("td", {}, o[t.name] ? fmt(o[t.name].failed) : "–")));
  return [
    cards([["ready", s.jobs.ready], ["reserved", s.jobs.reserved], ["delayed", s.jobs.delayed], ["buried", s.jobs.buried, s.jobs.buried ? "bad" : ""],
      ["done", d.runner ? done : "–"], ["failed", d.runner ? failed : "–", failed ? "bad" : ""], ["connections", s.connections.current],
      ["workers waiting", s.connections.waiting], ["TTR timeouts", s.jobs.timeouts], ["uptime", ago(s.uptimeSeconds * 1000)]]),
    d.runner ? chart(d.lastHour) : el("p", { class: "muted" }, "No job runner in this process (beanrun serve): job outcomes and the chart appear under beanrun run."),
    el("h2", {}, "Tubes"),
    table(["tube", "ready", "reserved", "delayed", "buried", "waiting", "done", "failed"], rows),
  ];
}

function bodyBlock(b, allowed) {
  if (!allowed) return el("p", { class: "muted" }, "Body hidden: this console needs the token to show job bodies.");
  if (!b) return null;
  const note = b.kind === "binary" ? "binary (not UTF-8), bytes escaped" : b.kind;
  return [el("div", { class: "meta" }, el("span", {}, note + ", " + fmt(b.size) + " bytes"), b.truncated ? el("span", { class: "warnc" }, "truncated: first " + fmt(b.text.length) + " characters shown") : null), el("pre", { class: "body" }, b.text)];
}
function failureBlock(f) {
  if (!f) return null;
  if (f.hidden) return el("div", { class: "failure muted" }, "Last failure: hidden (needs the token, as bodies do).");
  return el("div", { class: "failure" },
    el("div", { class: "bad" }, "Last failure: ", f.message),
    el("div", { class: "meta" }, el("span", {}, "attempt " + f.attempt), el("span", {}, when(f.at)), el("span", {}, f.ms + " ms"), f.pid ? el("span", {}, "pid " + f.pid) : null, f.outcome ? el("span", {}, f.outcome) : null),
    f.stack ? el("pre", { class: "stack" }, f.stack) : null);
}
function jobCard(j, bodies) {
  const buttons = [];
  if (j.state === "buried" || j.state === "delayed") buttons.push(el("button", { "data-act": "kick", onclick: (e) => act({ action: "kick-job", id: j.id }, e.target) }, "Kick"));
  buttons.push(el("button", { class: "danger", "data-act": "delete", onclick: (e) => act({ action: "delete", id: j.id }, e.target) }, "Delete"));
  return el("div", { class: "job", "data-job": j.id },
    el("div", { class: "row" }, el("b", {}, el("a", { href: "#/job/" + j.id }, "#" + j.id)), el("span", { class: j.state === "buried" ? "bad" : "muted" }, j.state), el("a", { href: tubeHref(j.tube) }, j.tube), el("span", { class: "row", style: "margin-left:auto" }, buttons)),
    el("div", { class: "meta" }, el("span", {}, "pri " + j.pri), el("span", {}, "age " + ago(j.ageSeconds * 1000)), el("span", {}, "ttr " + j.ttr + " s"),
      j.timeLeftSeconds ? el("span", {}, "time left " + j.timeLeftSeconds + " s") : null,
      el("span", {}, "reserves " + j.reserves), el("span", {}, "releases " + j.releases), el("span", {}, "timeouts " + j.timeouts), el("span", {}, "buries " + j.buries), el("span", {}, "kicks " + j.kicks)),
    failureBlock(j.failure), bodyBlock(j.body, bodies));
}
`;
