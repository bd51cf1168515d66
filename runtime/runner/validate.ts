/**
 * Checks a loaded job module and fills in defaults. Every error names the
 * file and the field, e.g. `jobs/email.ts: "ttr" must be an integer >= 1 (got "30s")`.
 * croner is loaded only to check a module that has a schedule: a worker
 * process of a tube without one never loads it (a cold start saves its
 * load time).
 */
import { JOB_BRAND, type ResolvedJob } from "./define.ts";
import { isStandardSchema } from "./standard-schema.ts";

export class JobModuleError extends Error {
  constructor(
    readonly file: string,
    readonly field: string | null,
    problem: string,
  ) {
    super(`${file}: ${field ? `"${field}" ` : ""}${problem}`);
    this.name = "JobModuleError";
  }
}

const MAX_PRIORITY = 2 ** 32 - 1;
/** beanstalkd's tube-name characters; at most 200 bytes, not starting with "-". */
const TUBE_RE = /^[A-Za-z0-9+/;.$_()][A-Za-z0-9\-+/;.$_()]{0,199}$/;

export function checkTubeName(file: string, tube: string): void {
  if (!TUBE_RE.test(tube)) {
    throw new JobModuleError(
      file,
      null,
      `the file name "${tube}" is not a valid tube name (letters, digits and - + / ; . $ _ ( ), at most 200, not starting with -)`,
    );
  }
}

function show(v: unknown): string {
  if (typeof v === "function") return "a function";
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
  } catch {
    return String(v);
  }
}

function int(file: string, field: string, v: unknown, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new JobModuleError(file, field, `must be an integer from ${min} to ${max} (got ${show(v)})`);
  }
  return v;
}

function num(file: string, field: string, v: unknown, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min) {
    throw new JobModuleError(file, field, `must be a number >= ${min} (got ${show(v)})`);
  }
  return v;
}

const KNOWN = new Set(["brand", "handler", "schema", "priority", "ttr", "concurrency", "retries", "schedule", "tube", "processes"]);

/** The module's default export, checked for shape: an object of known settings with a handler. */
function definitionOf(file: string, tube: string, mod: unknown): Record<string, unknown> {
  const def = (mod as { default?: unknown } | null)?.default;
  if (typeof def !== "object" || def === null) {
    throw new JobModuleError(file, "default", `must be the job definition: export default defineJob({ handler, ... }) (got ${show(def)})`);
  }
  const d = def as Record<string, unknown>;
  if (d.brand !== undefined && d.brand !== JOB_BRAND) {
    throw new JobModuleError(file, "brand", `is ${show(d.brand)}: built by another beanrun version?`);
  }
  for (const k of Object.keys(d)) {
    if (!KNOWN.has(k)) throw new JobModuleError(file, k, `is not a job setting (known: ${[...KNOWN].slice(1).join(", ")})`);
  }
  if (typeof d.handler !== "function") {
    throw new JobModuleError(file, "handler", `must be a function (payload, ctx) => ... (got ${show(d.handler)})`);
  }
  if (d.schema !== undefined && !isStandardSchema(d.schema)) {
    throw new JobModuleError(file, "schema", "must be a valibot schema (or any Standard Schema)");
  }
  if (d.tube !== undefined && d.tube !== tube) {
    throw new JobModuleError(file, "tube", `is ${show(d.tube)} but the file name makes the tube "${tube}"`);
  }
  return d;
}

/** `retries`: attempts (default 3) and a backoff given as seconds or { base, factor, max }. */
function resolveRetries(file: string, retries: unknown): Pick<ResolvedJob, "attempts" | "backoff"> {
  let attempts = 3;
  let backoff = { base: 1, factor: 2, max: 3600 };
  if (retries !== undefined) {
    if (typeof retries !== "object" || retries === null) {
      throw new JobModuleError(file, "retries", `must be { attempts, backoff } (got ${show(retries)})`);
    }
    const r = retries as Record<string, unknown>;
    attempts = int(file, "retries.attempts", r.attempts, 3, 1, 1_000_000);
    if (typeof r.backoff === "number" || r.backoff === undefined) {
      backoff.base = num(file, "retries.backoff", r.backoff, 1, 0);
    } else if (typeof r.backoff === "object" && r.backoff !== null) {
      const b = r.backoff as Record<string, unknown>;
      backoff = {
        base: num(file, "retries.backoff.base", b.base, 1, 0),
        factor: num(file, "retries.backoff.factor", b.factor, 2, 1),
        max: num(file, "retries.backoff.max", b.max, 3600, 0),
      };
    } else {
      throw new JobModuleError(file, "retries.backoff", `must be seconds or { base, factor, max } (got ${show(r.backoff)})`);
    }
  }
  return { attempts, backoff };
}

/** `schedule`: one or a list of cron patterns or { cron, payload?, timezone? }, each checked by croner (loaded only here). */
async function resolveSchedules(file: string, schedule: unknown): Promise<ResolvedJob["schedules"]> {
  const schedules: { cron: string; payload: unknown; timezone?: string }[] = [];
  if (schedule === undefined) return schedules;
  const list: unknown[] = Array.isArray(schedule) ? schedule : [schedule];
  const { Cron } = await import("croner");
  for (const [i, s] of list.entries()) {
    const field = Array.isArray(schedule) ? `schedule[${i}]` : "schedule";
    const e = typeof s === "string" ? { cron: s } : s;
    if (typeof e !== "object" || e === null || typeof (e as { cron?: unknown }).cron !== "string") {
      throw new JobModuleError(file, field, `must be a cron pattern or { cron, payload?, timezone? } (got ${show(s)})`);
    }
    const { cron, payload, timezone } = e as { cron: string; payload?: unknown; timezone?: unknown };
    if (timezone !== undefined && typeof timezone !== "string") {
      throw new JobModuleError(file, `${field}.timezone`, `must be an IANA time zone name (got ${show(timezone)})`);
    }
    try {
      new Cron(cron, { paused: true, timezone }).stop();
    } catch (err) {
      throw new JobModuleError(file, `${field}.cron`, `${show(cron)} is not a valid pattern: ${(err as Error).message}`);
    }
    schedules.push({ cron, payload: payload ?? {}, timezone });
  }
  return schedules;
}

/** `processes`: { min?, max?, idle? } (default: none kept, at most one). */
function resolveProcesses(file: string, processes: unknown): ResolvedJob["processes"] {
  if (processes === undefined) return { min: 0, max: 1 };
  if (typeof processes !== "object" || processes === null) {
    throw new JobModuleError(file, "processes", `must be { min?, max?, idle? } (got ${show(processes)})`);
  }
  const p = processes as Record<string, unknown>;
  for (const k of Object.keys(p)) {
    if (k !== "min" && k !== "max" && k !== "idle")
      throw new JobModuleError(file, `processes.${k}`, "is not a setting (known: min, max, idle)");
  }
  const max = int(file, "processes.max", p.max, 1, 1, 1024);
  const min = int(file, "processes.min", p.min, 0, 0, max);
  const idle = p.idle === undefined ? undefined : int(file, "processes.idle", p.idle, 60, 1, MAX_PRIORITY);
  return idle === undefined ? { min, max } : { min, max, idle };
}

/** `mod` is the module namespace object; `tube` comes from the file name. */
export async function resolveJob(file: string, tube: string, mod: unknown): Promise<ResolvedJob> {
  checkTubeName(file, tube);
  const d = definitionOf(file, tube, mod);
  const priority = int(file, "priority", d.priority, 1024, 0, MAX_PRIORITY);
  const ttr = int(file, "ttr", d.ttr, 60, 1, MAX_PRIORITY);
  const concurrency = int(file, "concurrency", d.concurrency, 1, 1, 10_000);
  const { attempts, backoff } = resolveRetries(file, d.retries);
  const schedules = await resolveSchedules(file, d.schedule);
  const processes = resolveProcesses(file, d.processes);
  return {
    processes,
    tube,
    file,
    handler: d.handler as ResolvedJob["handler"],
    schema: d.schema as ResolvedJob["schema"],
    priority,
    ttr,
    concurrency,
    attempts,
    backoff,
    schedules,
  };
}
