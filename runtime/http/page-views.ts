/**
 * The rest of the console's script: the tube page (jobs by state, paged,
 * with their actions and the put editor), the job, workers and schedules
 * pages, and the router with its 2 s live refresh. Runs after page-script.ts
 * in the same <script> element; the same rule holds: server data goes in
 * as text only.
 */
export const PAGE_VIEWS = String.raw`
const STATES = ["ready", "delayed", "reserved", "buried"];
const PAGE = 20;

function tubeActions(t) {
  const paused = t.pausedSecondsLeft > 0;
  const secs = el("input", { type: "number", min: "1", value: "300", style: "width:6rem", "aria-label": "pause seconds" });
  return el("div", { class: "row box" },
    paused ? el("span", { class: "warnc" }, "paused, " + t.pausedSecondsLeft + " s left") : el("span", { class: "okc" }, "running"),
    paused ? el("button", { "data-act": "resume", onclick: (e) => act({ action: "pause", tube: t.name, seconds: 0 }, e.target) }, "Resume")
      : el("span", { class: "row" }, secs, el("button", { "data-act": "pause", onclick: (e) => act({ action: "pause", tube: t.name, seconds: Number(secs.value) || 0 }, e.target) }, "Pause")),
    el("button", { "data-act": "kick-all", disabled: !t.buried, onclick: (e) => act({ action: "kick-all", tube: t.name }, e.target) }, "Kick all buried"),
    el("button", { class: "danger", "data-act": "delete-buried", disabled: !t.buried, onclick: async (e) => {
      const typed = await confirmTyped("Delete all " + t.buried + " buried jobs of " + t.name + "? This cannot be undone. Type the tube's name to confirm.", t.name);
      if (typed === null) return;
      if (typed !== t.name) return toast("not deleted: the name typed does not match", true);
      act({ action: "delete-buried", tube: t.name, confirm: typed }, e.target);
    } }, "Delete all buried"));
}

function editor(tube) {
  const area = el("textarea", { spellcheck: "false", "aria-label": "job body (JSON)" }, "{\n  \n}");
  const status = el("div", { class: "muted", "data-role": "verdict" }, "Write the payload as JSON.");
  const num = (name, ph) => el("label", {}, name, el("input", { type: "number", min: "0", placeholder: ph, name }));
  const opts = el("div", { class: "opts" }, num("priority", "1024"), num("delay", "0"), num("ttr", "60"));
  const putBtn = el("button", { class: "primary", "data-act": "put" }, "Put job");
  let seq = 0;
  const check = async () => {
    const my = ++seq;
    let ok = true;
    try { JSON.parse(area.value); } catch (e) { ok = false; status.className = "bad"; status.textContent = "not JSON: " + e.message; }
    if (!ok) return false;
    const r = await post("api/validate", { tube, body: area.value }).catch((e) => ({ ok: false, message: e.message }));
    if (my !== seq) return r.ok;
    status.className = r.ok ? "okc" : "bad";
    status.textContent = r.message;
    return r.ok;
  };
  let debounce = 0;
  area.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(check, 250); });
  putBtn.addEventListener("click", async () => {
    if (!(await check())) return toast("not put: " + status.textContent, true);
    const o = { action: "put", tube, body: area.value };
    for (const i of opts.querySelectorAll("input")) if (i.value !== "") o[i.name] = Number(i.value);
    const r = await act(o, putBtn);
    if (r && r.ok) status.textContent = r.message;
  });
  return el("div", { class: "box editor" }, el("h3", {}, "Put a job"), area, opts, el("div", { class: "row" }, putBtn, status));
}

async function tubeView(name, state, page) {
  state = STATES.includes(state) ? state : null;
  page = Math.max(0, Number(page) || 0);
  const [ov] = await Promise.all([get("api/overview")]);
  const t = ov.stats.tubes.find((x) => x.name === name);
  if (!t) return { key: "missing", render: () => [el("h2", {}, name), el("p", {}, "This tube does not exist now (a tube lives while it has jobs or clients).")] };
  if (!state) state = t.buried ? "buried" : t.ready ? "ready" : t.delayed ? "delayed" : t.reserved ? "reserved" : "ready";
  const jobs = await get("api/jobs?tube=" + encodeURIComponent(name) + "&state=" + state + "&offset=" + page * PAGE + "&limit=" + PAGE);
  return {
    key: JSON.stringify([t, jobs]),
    render: () => {
      const tabs = el("div", { class: "tabs" }, STATES.map((s) => el("a", { href: tubeHref(name, s), class: s === state ? "on" : "", "data-state": s }, s + " " + fmt(t[s]))));
      const pages = Math.ceil(jobs.total / PAGE);
      const pager = pages > 1 ? el("div", { class: "pager" },
        page > 0 ? el("a", { href: tubeHref(name, state, page - 1) }, "← newer") : null,
        el("span", { class: "muted" }, "page " + (page + 1) + " of " + pages), page + 1 < pages ? el("a", { href: tubeHref(name, state, page + 1) }, "older →") : null) : null;
      const o = ov.outcomes[name];
      return [
        el("h2", {}, "Tube ", el("span", { "data-tube": name }, name)),
        cards([["ready", t.ready], ["reserved", t.reserved], ["delayed", t.delayed], ["buried", t.buried, t.buried ? "bad" : ""], ["waiting", t.waiting], ["done", o ? o.done : "–"], ["failed", o ? o.failed : "–"]]),
        tubeActions(t), tabs,
        jobs.jobs.length ? el("div", { id: "jobs" }, jobs.jobs.map((j) => jobCard(j, jobs.bodies))) : el("p", { class: "muted", id: "jobs" }, "No " + state + " jobs."),
        pager,
      ];
    },
    after: (first) => first && main.append(editor(name)),
  };
}

async function jobView(id) {
  const d = await get("api/job?id=" + encodeURIComponent(id)).catch((e) => ({ error: e.message }));
  return { key: JSON.stringify(d), render: () => (d.error ? [el("h2", {}, "Job " + id), el("p", {}, d.error)] : [el("h2", {}, "Job " + id), jobCard(d.job, d.bodies)]) };
}

async function workersView() {
  const d = await get("api/workers");
  const now = Date.now();
  return {
    key: JSON.stringify(d.workers.map((w) => Object.assign({}, w, { startedAt: w.startedAt && Math.round((now - w.startedAt) / 10000) }))),
    render: () => [el("h2", {}, "Workers"), d.runner ? table(["tube", "state", "pid", "uptime", "restarts", "jobs in hand", "last crash"], d.workers.map((w) => el("tr", { "data-worker": w.tube },
      el("td", {}, el("a", { href: tubeHref(w.tube) }, w.tube)), el("td", { class: w.state === "failed" ? "bad" : w.state === "running" ? "okc" : "warnc" }, w.state),
      el("td", {}, w.pids.length ? w.pids.join(", ") : "–"), el("td", {}, w.startedAt ? ago(now - w.startedAt) : "–"), el("td", {}, fmt(w.restarts)), el("td", {}, fmt(w.inHand)),
      el("td", { style: "white-space:normal;text-align:left" }, w.loadError ? el("span", { class: "bad" }, "module does not load: " + w.loadError) : w.lastCrash ? when(w.lastCrash.at) + ": " + w.lastCrash.reason : "–"))))
      : el("p", { class: "muted" }, "No job runner in this process (beanrun serve).")],
  };
}

async function schedulesView() {
  const d = await get("api/schedules");
  return {
    key: JSON.stringify(d),
    render: () => [el("h2", {}, "Schedules"), d.schedules.length ? table(["tube", "cron", "timezone", "next run", "last run", "outcome"], d.schedules.map((s) => el("tr", {},
      el("td", {}, el("a", { href: tubeHref(s.tube) }, s.tube)), el("td", {}, el("code", {}, s.cron)), el("td", {}, s.timezone), el("td", {}, when(s.next)),
      el("td", {}, s.last ? when(s.last.at) : "never"), el("td", { class: s.last && s.last.outcome !== "put" ? "bad" : "" }, s.last ? s.last.outcome + (s.last.detail ? ": " + s.last.detail : "") : "–"))))
      : el("p", { class: "muted" }, d.runner ? "No job module has a schedule." : "No job runner in this process (beanrun serve).")],
  };
}

async function overviewView() {
  const d = await get("api/overview");
  return { key: JSON.stringify([d.stats.tubes, d.stats.jobs, d.lastHour, d.outcomes, Math.trunc(d.stats.uptimeSeconds / 60)]), render: () => renderOverview(d), meta: d };
}

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  const name = parts[0] || "overview";
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("on", a.dataset.nav === name);
  if (name === "tube") return () => tubeView(decodeURIComponent(parts[1] || ""), parts[2], parts[3]);
  if (name === "job") return () => jobView(parts[1]);
  if (name === "workers") return workersView;
  if (name === "schedules") return schedulesView;
  return overviewView;
}

let routeId = 0;
async function refresh(newRoute) {
  clearTimeout(timer);
  const my = newRoute ? ++routeId : routeId;
  if (newRoute) { view = route(); lastData = ""; }
  const conn = document.getElementById("conn");
  try {
    const v = await view();
    if (my !== routeId) return;
    conn.textContent = "live";
    conn.className = "okc";
    if (v.key !== lastData) {
      const first = lastData === "";
      lastData = v.key;
      const keep = main.querySelector(".editor");
      main.replaceChildren(...[v.render()].flat(2).filter(Boolean));
      if (keep && !first) main.append(keep);
      else if (v.after) v.after(first || !keep);
    }
  } catch (e) {
    conn.textContent = "cannot reach the server: " + e.message;
    conn.className = "bad";
  }
  timer = setTimeout(() => refresh(false), POLL_MS);
}

async function start() {
  try {
    const d = await get("api/overview");
    document.getElementById("version").textContent = "v" + d.build.version + " · protocol " + d.build.protocol;
    document.getElementById("token-btn").hidden = !d.access.tokenRequired;
  } catch (e) {
    document.getElementById("version").textContent = "";
  }
  window.addEventListener("hashchange", () => refresh(true));
  refresh(true);
}
start();
`;
