/**
 * The console's JSON API (GET /api/...) and its one mutation endpoint
 * (POST /api/action). Reads come from the ConsoleSource (the queue in this
 * process, or a store); actions go through Actions (the beanstalkd protocol). Bodies are left out when the
 * guard says this request may not see them.
 */

import type { FailureRecord } from "../failures/record.ts";
import { ActionError, type Actions, parseAction } from "./actions.ts";
import type { Guard } from "./guard.ts";
import { type JobView, LIST_STATES, type ListState } from "./jobs-view.ts";
import type { BuildInfo } from "./metrics.ts";
import type { Outcomes } from "./outcomes.ts";
import type { RunnerView } from "./runner-view.ts";
import type { ConsoleSource } from "./source.ts";

export interface ApiContext {
  source: ConsoleSource;
  build: BuildInfo;
  guard: Guard;
  actions: Actions;
  outcomes: Outcomes;
  runner: () => RunnerView | undefined;
  failures: (id: number) => FailureRecord | undefined;
}

const json = (x: unknown, status = 200) => Response.json(x, { status, headers: { "cache-control": "no-store" } });
const problem = (message: string, status: number) => json({ ok: false, message }, status);

/** The job with its failure record; where bodies are hidden, so is the record (messages and stacks can quote payloads). */
function withFailure(ctx: ApiContext, j: JobView, bodies: boolean): JobView & { failure?: FailureRecord | { hidden: true } } {
  const f = ctx.failures(j.id);
  return f ? { ...j, failure: bodies ? f : { hidden: true } } : j;
}

export async function apiGet(ctx: ApiContext, req: Request, url: URL): Promise<Response> {
  const bodies = ctx.guard.bodiesProblem(req) === null;
  const q = url.searchParams;
  switch (url.pathname) {
    case "/api/overview": {
      const runner = ctx.runner();
      return json({
        build: ctx.build,
        stats: await ctx.source.snapshot(),
        lastHour: ctx.outcomes.lastHour(),
        outcomes: Object.fromEntries(ctx.outcomes.tubes),
        access: { loopback: ctx.guard.loopback, tokenRequired: ctx.guard.tokenRequired, bodies },
        runner: runner !== undefined,
      });
    }
    case "/api/jobs": {
      const state = q.get("state") as ListState;
      if (!LIST_STATES.includes(state)) return problem(`state must be one of ${LIST_STATES.join(", ")}`, 400);
      const page = await ctx.source.listJobs(
        q.get("tube") ?? "",
        state,
        Number(q.get("offset") ?? 0) || 0,
        Number(q.get("limit") ?? 20) || 20,
        bodies,
      );
      if (!page) return problem(`no tube named ${JSON.stringify(q.get("tube"))}`, 404);
      return json({ ...page, jobs: page.jobs.map((j) => withFailure(ctx, j, bodies)), bodies });
    }
    case "/api/job": {
      const id = Number(q.get("id"));
      if (!Number.isSafeInteger(id) || id < 1) return problem("a job id is a positive whole number", 400);
      const j = await ctx.source.jobById(id, bodies);
      if (!j) return problem(`job ${id} not found`, 404);
      return json({ job: withFailure(ctx, j, bodies), bodies });
    }
    case "/api/workers":
      return json({ runner: ctx.runner() !== undefined, workers: ctx.runner()?.workers() ?? [] });
    case "/api/schedules":
      return json({ runner: ctx.runner() !== undefined, schedules: ctx.runner()?.schedules() ?? [] });
    default:
      return problem("not found", 404);
  }
}

/** POST /api/validate {tube, body}: the tube's schema's verdict on a JSON payload, when the runner knows one. */
async function validate(ctx: ApiContext, x: { tube?: unknown; body?: unknown }): Promise<Response> {
  let payload: unknown;
  try {
    payload = JSON.parse(String(x.body ?? ""));
  } catch (e) {
    return json({ ok: false, schema: false, message: `not JSON: ${(e as Error).message}` });
  }
  const v = ctx.runner()?.validate?.(String(x.tube ?? ""), payload) ?? null;
  if (!v) return json({ ok: true, schema: false, message: "valid JSON (the runner has no schema for this tube)" });
  const r = await v;
  return json(r.ok ? { ok: true, schema: true, message: "valid for the tube's schema" } : { ok: false, schema: true, message: r.reason });
}

export async function apiPost(ctx: ApiContext, req: Request, url: URL): Promise<Response> {
  const refused = ctx.guard.mutationProblem(req);
  if (refused) return problem(refused.message, refused.status);
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    return problem("the request body is not JSON", 400);
  }
  if (url.pathname === "/api/validate") return validate(ctx, body as { tube?: unknown; body?: unknown });
  if (url.pathname !== "/api/action") return problem("not found", 404);
  try {
    const action = parseAction(body);
    if (action.action === "put") {
      const v = await validate(ctx, { tube: action.tube, body: action.body });
      const verdict = (await v.json()) as { ok: boolean; schema: boolean; message: string };
      if (!verdict.ok && verdict.schema) return problem(`rejected by the tube's schema: ${verdict.message}`, 422);
    }
    const r = await ctx.actions.run(action);
    return json(r, r.ok ? 200 : 409);
  } catch (e) {
    if (e instanceof ActionError) return problem(e.message, 400);
    return problem(`the server did not accept the action: ${(e as Error).message}`, 502);
  }
}
