/**
 * The HTTP endpoints of a runner with no server in its process (`run
 * --connect HOST:PORT --http [ADDR:]PORT`: a worker pod, or more workers on
 * another machine), as a Web-standard fetch handler:
 *   GET /healthz   200 "ok" while the process answers (liveness: a server
 *                  that is down is not a reason to restart the workers,
 *                  they reconnect by themselves)
 *   GET /readyz    200 "ready", or 503 with the reasons: the runner does not
 *                  reach its server, or a tube's module does not load
 *   GET /metrics   the runner's metrics (metrics.ts runnerPrometheus)
 * The console's rules apply (guard.ts): the listener binds to 127.0.0.1
 * unless given an address, and every request but the two probes passes the
 * Host check. There is no console page here: the queue it shows lives in the
 * server's process, whose own --http serves it.
 */
import { createGuard, type GuardOptions } from "./guard.ts";
import type { BuildInfo } from "./metrics.ts";
import { runnerPrometheus } from "./metrics.ts";
import type { Outcomes } from "./outcomes.ts";
import type { RunnerView } from "./runner-view.ts";

export interface RunnerHttpOptions extends GuardOptions {
  build: Omit<BuildInfo, "protocol">;
  outcomes: Outcomes;
  runner: RunnerView;
  /** Whether the runner reaches its server now. */
  connected(): boolean;
}

/** Why the runner is not ready (empty: it is). */
export function notReady(connected: boolean, runner: RunnerView): string[] {
  const why = connected ? [] : ["not connected to the server"];
  for (const w of runner.workers()) if (w.loadError !== undefined) why.push(`tube ${w.tube}: its module does not load`);
  return why;
}

export function runnerHttp(o: RunnerHttpOptions): (req: Request) => Response {
  const guard = createGuard(o);
  const text = (body: string, status = 200, type = "text/plain; charset=utf-8") =>
    new Response(body, { status, headers: { "content-type": type, "cache-control": "no-store" } });
  return (req) => {
    const { pathname } = new URL(req.url);
    if (req.method !== "GET" && req.method !== "HEAD") return text("method not allowed\n", 405);
    if (pathname === "/healthz") return text("ok\n");
    if (pathname === "/readyz") {
      const why = notReady(o.connected(), o.runner);
      return why.length ? text(`not ready: ${why.join("; ")}\n`, 503) : text("ready\n");
    }
    const badHost = guard.hostProblem(req);
    if (badHost) return text(`${badHost}\n`, 421);
    if (pathname === "/metrics")
      return text(runnerPrometheus(o.build, o.connected(), o.outcomes, o.runner), 200, "text/plain; version=0.0.4; charset=utf-8");
    return text("not found: this runner serves /metrics, /healthz and /readyz\n", 404);
  };
}
