/**
 * The operator's HTTP endpoints, as a Web-standard fetch handler (the same
 * under Bun.serve and Deno.serve):
 *   GET  /              the console (one self-contained page, no network fetches)
 *   GET  /api/...       its JSON API (api.ts); /api/events streams job outcomes
 *   POST /api/action    kick, delete, pause, put (guarded: guard.ts)
 *   GET  /stats.json    the server's state as JSON
 *   GET  /metrics       Prometheus metrics
 *   GET  /healthz       200 "ok" (liveness; exempt from the Host check)
 *   GET  /readyz        200 "ready", or 503 with the reasons: the server is
 *                       draining (refusing new jobs), or, under `run`, a
 *                       tube's module does not load (runner-http.ts's
 *                       readiness, with the queue in this process; exempt
 *                       from the Host check like /healthz)
 * Every other request must pass the Host check first (DNS rebinding).
 */

import type { FailureRecord } from "../failures/record.ts";
import { createActions } from "./actions.ts";
import { type ApiContext, apiGet, apiPost } from "./api.ts";
import { createGuard, type GuardOptions } from "./guard.ts";
import { type BuildInfo, prometheus } from "./metrics.ts";
import { Outcomes } from "./outcomes.ts";
import { consolePage } from "./page.ts";
import { notReady } from "./runner-http.ts";
import type { JobOutcome, RunnerView } from "./runner-view.ts";
import type { ConsoleSource } from "./source.ts";

export interface ConsoleOptions extends GuardOptions {
  /** Where jobs and figures come from (source.ts: the in-memory queue or a store). */
  source: ConsoleSource;
  build: BuildInfo;
  /** The queue's own address, for the actions' protocol connection. */
  server: { host: string; port: number };
  failures?: (id: number) => FailureRecord | undefined;
}

export interface Console {
  fetch(req: Request): Response | Promise<Response>;
  readonly outcomes: Outcomes;
  /** The runner in this process, when there is one (`beanrun run`). */
  attachRunner(view: RunnerView): void;
  /** Where failure records come from (the server's store, or the runner's). */
  setFailures(lookup: (id: number) => FailureRecord | undefined): void;
  close(): void;
}

const HEARTBEAT_MS = 5000;

/** Server-sent events: one `data:` line of JSON per job outcome, optionally for one tube. */
function events(outcomes: Outcomes, tube: string | null, signal: AbortSignal): Response {
  const enc = new TextEncoder();
  let stop = (): void => {};
  const stream = new ReadableStream<Uint8Array>({
    start(ctl) {
      const send = (s: string) => {
        try {
          ctl.enqueue(enc.encode(s));
        } catch {
          stop();
        }
      };
      const off = outcomes.subscribe((o: JobOutcome) => {
        if (tube === null || o.tube === tube) send(`data: ${JSON.stringify(o)}\n\n`);
      });
      const beat = setInterval(() => send(": beat\n\n"), HEARTBEAT_MS);
      stop = () => {
        off();
        clearInterval(beat);
      };
      signal.addEventListener("abort", () => {
        stop();
        try {
          ctl.close();
        } catch {
          // already closed
        }
      });
      send(": connected\n\n");
    },
    cancel: () => stop(),
  });
  return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-store" } });
}

export function createConsole(o: ConsoleOptions): Console {
  const guard = createGuard(o);
  const outcomes = new Outcomes();
  const actions = createActions(o.source, o.server);
  let runner: RunnerView | undefined;
  let failures = o.failures ?? (() => undefined);
  const ctx: ApiContext = {
    source: o.source,
    build: o.build,
    guard,
    actions,
    outcomes,
    runner: () => runner,
    failures: (id) => failures(id),
  };
  const page = consolePage(guard.csrf);
  const text = (body: string, status = 200, type = "text/plain; charset=utf-8") =>
    new Response(body, { status, headers: { "content-type": type, "cache-control": "no-store" } });

  const fetch = (req: Request): Response | Promise<Response> => {
    const url = new URL(req.url);
    if (url.pathname === "/healthz") return text("ok\n");
    if (url.pathname === "/readyz")
      return Promise.resolve()
        .then(() => o.source.snapshot())
        .then(
          (s) => [...(s.draining ? ["draining: new jobs are refused"] : []), ...(runner ? notReady(true, runner) : [])],
          (e: unknown) => [`the queue's store does not answer: ${(e as Error)?.message ?? e}`],
        )
        .then((why) => (why.length ? text(`not ready: ${why.join("; ")}\n`, 503) : text("ready\n")));
    const badHost = guard.hostProblem(req);
    if (badHost) return text(`${badHost}\n`, 421);
    if (req.method === "POST" && url.pathname.startsWith("/api/")) return apiPost(ctx, req, url);
    if (req.method !== "GET" && req.method !== "HEAD") return text("method not allowed\n", 405);
    switch (url.pathname) {
      case "/":
        return new Response(page, {
          headers: {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
            // Everything is inline and same-origin: no script, style or fetch can come from elsewhere, and no framing.
            "content-security-policy":
              "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
          },
        });
      case "/stats.json":
        return Promise.resolve(o.source.snapshot()).then((s) => Response.json(s, { headers: { "cache-control": "no-store" } }));
      case "/metrics":
        return Promise.resolve(o.source.snapshot()).then((s) =>
          text(prometheus(s, o.build, outcomes, runner), 200, "text/plain; version=0.0.4; charset=utf-8"),
        );
      case "/api/events": {
        // Error messages and stacks can quote payloads: the same rule as bodies.
        const refused = guard.bodiesProblem(req);
        if (refused) return text(`${refused}\n`, 401);
        return events(outcomes, url.searchParams.get("tube"), req.signal);
      }
      default:
        return url.pathname.startsWith("/api/") ? apiGet(ctx, req, url) : text("not found\n", 404);
    }
  };

  return {
    fetch,
    outcomes,
    attachRunner: (v) => void (runner = v),
    setFailures: (f) => void (failures = f),
    close: () => actions.close(),
  };
}
