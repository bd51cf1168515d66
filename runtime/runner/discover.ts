/**
 * Finds the job modules: `<dir>/<tube>.ts` on disk, or the jobs compiled into
 * the executable (listed under /$bunfs/root/<dir>/ at run time). Files whose
 * name starts with "_" or "." and *.test.* / *.d.ts files are not jobs, so
 * helpers can live next to handlers. Each is then imported and checked by
 * load-job.ts (which a worker process uses alone: none of this file's
 * node:fs and node:path).
 */
import { readdirSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { embeddedDir } from "../adapters/embedded.ts";
import type { ResolvedJob } from "./define.ts";
import { jobFileTube } from "./defined-in.ts";
import { loadJob } from "./load-job.ts";
import { checkTubeName, JobModuleError } from "./validate.ts";

/** Set by `beanrun build` (--define) to the jobs directory compiled in. */
declare const BEANRUN_EMBEDDED_JOBS: string | undefined;

export const EMBEDDED_JOBS: string | null = typeof BEANRUN_EMBEDDED_JOBS === "string" ? BEANRUN_EMBEDDED_JOBS : null;

export interface JobFile {
  tube: string;
  /** Absolute path (or /$bunfs path) to import. */
  path: string;
  /** How errors name it: relative to the working directory. */
  display: string;
}

/** `dir` undefined: the compiled-in jobs in an executable, `jobs/` otherwise. */
export function listJobFiles(dir?: string): { dir: string; files: JobFile[] } {
  const embedded = dir === undefined && EMBEDDED_JOBS !== null;
  const root = embedded ? embeddedDir(EMBEDDED_JOBS!) : resolve(dir ?? "jobs");
  let names: string[];
  try {
    names = readdirSync(root);
  } catch (e) {
    throw new JobModuleError(dir ?? "jobs", null, `cannot read the jobs directory: ${(e as Error).message}`);
  }
  const files: JobFile[] = [];
  const byTube = new Map<string, string>();
  for (const name of names.sort()) {
    const tube = jobFileTube(name);
    if (tube === null) continue;
    const path = join(root, name);
    if (!embedded && !statSync(path).isFile()) continue;
    const display = embedded ? `${EMBEDDED_JOBS}/${tube}.ts` : relative(process.cwd(), path) || path;
    checkTubeName(display, tube);
    const other = byTube.get(tube);
    if (other !== undefined) {
      throw new JobModuleError(display, null, `makes the tube "${tube}", as ${other} does: one file per tube (rename or remove one)`);
    }
    byTube.set(tube, display);
    files.push({ tube, path, display });
  }
  return { dir: root, files };
}

/** Loads every job; the first broken module aborts with its error. */
export async function discoverJobs(dir?: string): Promise<{ dir: string; jobs: ResolvedJob[] }> {
  const { dir: root, files } = listJobFiles(dir);
  const jobs: ResolvedJob[] = [];
  for (const f of files) jobs.push(await loadJob(f));
  return { dir: root, jobs };
}
