/**
 * Imports one job module and checks it: its default export is a job
 * definition (validate.ts), its schedules' payloads pass its schema, and the
 * definition is registered under its tube for enqueue(). What both `run`
 * (each module, at start) and a worker process (its tube's) do with a job
 * file.
 *
 * A worker process loads this file at its start, so it loads no node:
 * module: in a Bun process the first of node:fs, node:path, node:url or
 * node:util costs about 10 ms of CPU, all four about 18 ms of the ~50 a
 * bundled worker's start takes (bench/runner/scale.ts). The module's file
 * URL comes from Bun's native pathToFileURL where it exists.
 */
import { isEmbedded } from "../adapters/embedded.ts";
import type { ResolvedJob } from "./define.ts";
import type { JobFile } from "./discover.ts";
import { registerTube } from "./enqueue.ts";
import { describeLoadError } from "./load-error.ts";
import { validatePayload } from "./standard-schema.ts";
import { JobModuleError, resolveJob } from "./validate.ts";

type PathToFileUrl = (path: string) => URL;

/** Bun's own, else node:url's (loaded only then). */
function pathToFileURL(path: string): URL {
  const native = (globalThis as { Bun?: { pathToFileURL: PathToFileUrl } }).Bun?.pathToFileURL;
  return (native ?? process.getBuiltinModule("node:url").pathToFileURL)(path);
}

export function moduleSpecifier(path: string): string {
  return isEmbedded(path) ? path : pathToFileURL(path).href;
}

/** Imports and validates one job module (schedule payloads included). */
export async function loadJob(f: JobFile): Promise<ResolvedJob> {
  let mod: unknown;
  try {
    mod = await import(moduleSpecifier(f.path));
  } catch (e) {
    const err = new JobModuleError(f.display, null, "cannot be loaded");
    err.message = describeLoadError(f.display, f.path, e);
    throw err;
  }
  const exported = Object.keys(mod as object);
  if (!exported.includes("default")) {
    const what = exported.length ? `has no default export (it exports ${exported.join(", ")})` : "exports nothing";
    throw new JobModuleError(
      f.display,
      null,
      `${what}: a job file's default export is its definition, export default defineJob({ handler(payload, ctx) { ... } })`,
    );
  }
  const job = await resolveJob(f.display, f.tube, mod);
  if (job.schema) {
    for (let i = 0; i < job.schedules.length; i++) {
      const r = await validatePayload(job.schema, job.schedules[i]!.payload);
      if (!r.ok) throw new JobModuleError(f.display, `schedule[${i}].payload`, `is rejected by the schema: ${r.reason}`);
    }
  }
  registerTube(job, (mod as { default?: unknown }).default);
  return { ...job, file: f.path };
}
