/** The web dashboard: one self-contained page that polls /stats.json. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>beanrun</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1b1f24; background: #f6f7f9; }
  body { margin: 0 auto; max-width: 72rem; padding: 1.5rem; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; }
  h1 small { font-weight: normal; color: #667; font-size: .85rem; margin-left: .5rem; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: .75rem; margin-bottom: 1.5rem; }
  .card { background: #fff; border-radius: .5rem; padding: .75rem 1rem; box-shadow: 0 1px 2px #0001; }
  .card b { display: block; font-size: 1.5rem; font-variant-numeric: tabular-nums; }
  .card span { color: #667; font-size: .8rem; }
  table { width: 100%; border-collapse: collapse; background: #fff; border-radius: .5rem; overflow: hidden; box-shadow: 0 1px 2px #0001; }
  th, td { padding: .45rem .75rem; text-align: right; font-variant-numeric: tabular-nums; }
  th:first-child, td:first-child { text-align: left; }
  th { background: #eef0f3; font-weight: 600; font-size: .85rem; }
  tr + tr td { border-top: 1px solid #eef0f3; }
  .warn { color: #b42318; font-weight: 600; }
  .paused { color: #b54708; }
  #err { color: #b42318; }
</style>
</head>
<body>
<h1>beanrun <small id="meta"></small> <small id="err"></small></h1>
<div class="cards" id="cards"></div>
<table>
  <thead><tr><th>tube</th><th>ready</th><th>urgent</th><th>reserved</th><th>delayed</th><th>buried</th><th>waiting</th><th>watching</th><th>puts/s</th><th>deletes/s</th><th>total jobs</th></tr></thead>
  <tbody id="tubes"></tbody>
</table>
<script>
let prev = null, prevAt = 0;
const fmt = (n) => Number(n).toLocaleString();
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
async function tick() {
  try {
    const s = await (await fetch("stats.json", { cache: "no-store" })).json();
    const now = performance.now();
    const dt = prev ? (now - prevAt) / 1000 : 0;
    const rate = (a, b) => (dt > 0 ? Math.max(0, (a - b) / dt).toFixed(0) : "–");
    document.getElementById("meta").textContent =
      "v" + s.version + " · up " + s.uptimeSeconds + "s" + (s.draining ? " · DRAINING" : "");
    const cards = [
      ["ready", s.jobs.ready], ["reserved", s.jobs.reserved], ["delayed", s.jobs.delayed],
      ["buried", s.jobs.buried], ["puts/s", prev ? rate(s.commands.put, prev.commands.put) : "–"],
      ["deletes/s", prev ? rate(s.commands.delete, prev.commands.delete) : "–"],
      ["connections", s.connections.current], ["workers waiting", s.connections.waiting],
      ["TTR timeouts", s.jobs.timeouts],
    ];
    document.getElementById("cards").innerHTML = cards
      .map(([k, v]) => '<div class="card"><b' + (k === "buried" && v > 0 ? ' class="warn"' : "") + ">" + (typeof v === "number" ? fmt(v) : v) + "</b><span>" + k + "</span></div>")
      .join("");
    const before = new Map((prev ? prev.tubes : []).map((t) => [t.name, t]));
    document.getElementById("tubes").innerHTML = s.tubes
      .map((t) => {
        const p = before.get(t.name);
        return "<tr><td>" + esc(t.name) + (t.pausedSecondsLeft ? ' <span class="paused">paused ' + t.pausedSecondsLeft + "s</span>" : "") +
          "</td><td>" + fmt(t.ready) + "</td><td>" + fmt(t.urgent) + "</td><td>" + fmt(t.reserved) + "</td><td>" + fmt(t.delayed) +
          "</td><td" + (t.buried ? ' class="warn"' : "") + ">" + fmt(t.buried) + "</td><td>" + fmt(t.waiting) + "</td><td>" + fmt(t.watching) +
          "</td><td>" + (p ? rate(t.totalJobs, p.totalJobs) : "–") + "</td><td>" + (p ? rate(t.deletes, p.deletes) : "–") +
          "</td><td>" + fmt(t.totalJobs) + "</td></tr>";
      })
      .join("");
    document.getElementById("err").textContent = "";
    prev = s;
    prevAt = now;
  } catch (e) {
    document.getElementById("err").textContent = "cannot reach the server: " + e.message;
  }
}
tick();
setInterval(tick, 1000);
</script>
</body>
</html>
`;
