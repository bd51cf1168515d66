/**
 * The operator's HTTP endpoints, as a Web-standard fetch handler (the same
 * under Bun.serve and Deno.serve):
 *   GET /            the dashboard
 *   GET /stats.json  the server's state as JSON
 *   GET /metrics     Prometheus metrics
 *   GET /healthz     200 "ok" (liveness)
 * Read-only by design: changing the queue goes through the beanstalkd
 * protocol, where clients already authenticate by network reachability.
 */
import type { Queue } from "../queue/queue.ts";
import { DASHBOARD_HTML } from "./dashboard.ts";
import { prometheus } from "./metrics.ts";
import { snapshot } from "./snapshot.ts";

export function httpHandler(queue: Queue, ops: Float64Array, version: string): (req: Request) => Response {
  return (req) => {
    const path = new URL(req.url).pathname;
    if (req.method !== "GET" && req.method !== "HEAD") return new Response("method not allowed\n", { status: 405 });
    switch (path) {
      case "/":
        return new Response(DASHBOARD_HTML, { headers: { "content-type": "text/html; charset=utf-8" } });
      case "/stats.json":
        return Response.json(snapshot(queue, ops, version), { headers: { "cache-control": "no-store" } });
      case "/metrics":
        return new Response(prometheus(snapshot(queue, ops, version)), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      case "/healthz":
        return new Response("ok\n");
      default:
        return new Response("not found\n", { status: 404 });
    }
  };
}
