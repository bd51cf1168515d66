/**
 * The worker processes' code in one file, for Bun (not a compiled
 * executable, which is one bundle already): runtime/cli-worker.ts and what it
 * imports, built by Bun's bundler. A worker process started from it loads
 * one module instead of resolving and transpiling ~35 TypeScript files, a
 * third of its start's CPU; in a burst of cold tubes, workers start one after
 * another, so that is what each cold start waits for (bench/runner/scale.ts).
 *
 * Built once per content: the file is named by a hash of every source file
 * under runtime/ (and the Bun version, and this runtime's directory, which
 * the bundle embeds), so a changed runtime gets a new bundle and an unchanged
 * one is found again by the next `run`. It lives in node_modules/.cache/beanrun
 * (the nearest node_modules at or above beanrun's package, the usual place
 * for tools' caches): the bundle keeps npm packages external (croner, loaded
 * by a module with a schedule), and from there they resolve exactly as from
 * runtime/ itself.
 *
 * The build runs in a child process (`bun build`), so the runner's memory
 * does not keep the bundler's; until it is done (the first `run` after a
 * change), workers start from the program's entry point as before, and if it
 * cannot be made (no writable cache, a failed build: said once on stderr) they
 * keep doing so. BEANRUN_WORKER_BUNDLE=0 turns the bundle off (to compare, or
 * to rule it out).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/** Part of the hash: bump when the build's options change. */
const BUILD_FORMAT = "1";
/** Bundles not used for this long are removed when a new one is written. */
const STALE_MS = 24 * 3600_000;

type State = { kind: "ready"; path: string } | { kind: "building"; path: string } | { kind: "off" };
let state: State | null = null;

/**
 * The bundle to start a worker process from (`bun <bundle> worker ...`), or
 * null: start it from the program's entry point. The first call looks for
 * the bundle of this runtime's content and, if there is none, starts
 * building it.
 */
export function workerBundle(): string | null {
  state ??= prepare();
  if (state.kind === "ready") {
    if (existsSync(state.path)) return state.path;
    state = prepare(); // removed meanwhile (another run's clean-up): build it again
  }
  return state.kind === "ready" ? state.path : null;
}

function prepare(): State {
  if (process.env.BEANRUN_WORKER_BUNDLE === "0") return { kind: "off" };
  // runtime/, of this checkout or installed package (import.meta.dir: only ever reached under Bun).
  const runtime = resolve(import.meta.dir, "..");
  const cache = cacheDir(runtime);
  if (!cache) return { kind: "off" };
  const path = join(cache, `worker-${contentHash(runtime)}.js`);
  if (existsSync(path)) {
    touch(path);
    return { kind: "ready", path };
  }
  build(runtime, path);
  return { kind: "building", path };
}

/** node_modules/.cache/beanrun in the nearest node_modules at or above the package; null when none can be written. */
function cacheDir(runtime: string): string | null {
  for (let dir = dirname(runtime); ; dir = dirname(dir)) {
    const modules = dir.endsWith("/node_modules") ? dir : join(dir, "node_modules");
    if (existsSync(modules)) {
      const cache = join(modules, ".cache", "beanrun");
      try {
        mkdirSync(cache, { recursive: true });
        return cache;
      } catch {
        return null;
      }
    }
    if (dirname(dir) === dir) return null;
  }
}

/** A hash of what the bundle is made of: every source file under runtime/, in path order, the Bun version and the runtime's place. */
function contentHash(runtime: string): string {
  const hasher = new Bun.CryptoHasher("sha256");
  hasher.update(`${BUILD_FORMAT}\0${Bun.version}\0${runtime}\0`);
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".ts")) hasher.update(`${p}\0`).update(readFileSync(p)).update("\0");
    }
  };
  walk(runtime);
  return hasher.digest("hex").slice(0, 16);
}

/** `bun build` in a child process into a private directory next to the cache, then renamed into place (atomic: another run may be building the same). */
function build(runtime: string, path: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const out = join(tmp, "worker.js");
  const args = [
    "build",
    join(runtime, "cli-worker.ts"),
    "--target=bun",
    "--packages=external",
    `--outfile=${out}`,
    `--define=BEANRUN_RUNTIME_DIR=${JSON.stringify(runtime)}`,
  ];
  let stderr = "";
  const child = spawn(process.execPath, args, { cwd: dirname(runtime), stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  child.unref();
  const failed = (why: string): void => {
    rmSync(tmp, { recursive: true, force: true });
    console.error(`beanrun: cannot bundle the worker code (${why}); workers start from the program's entry point`);
    state = { kind: "off" };
  };
  child.on("error", (e) => failed(e.message));
  child.on("exit", (code) => {
    if (code !== 0 || !existsSync(out)) return failed(stderr.trim().split("\n").pop() || `bun build exited with ${code}`);
    try {
      renameSync(out, path);
      rmSync(tmp, { recursive: true, force: true });
    } catch (e) {
      return failed((e as Error).message);
    }
    if (state?.kind === "building" && state.path === path) state = { kind: "ready", path };
    removeStale(dirname(path), path);
  });
}

/** Marks a bundle as in use (its age decides when another run removes it). */
function touch(path: string): void {
  try {
    const now = new Date();
    utimesSync(path, now, now);
  } catch {
    // read-only: it is still usable
  }
}

function removeStale(dir: string, keep: string): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (p === keep || !name.startsWith("worker-")) continue;
    try {
      if (Date.now() - statSync(p).mtimeMs > STALE_MS) rmSync(p, { recursive: true, force: true });
    } catch {
      // gone already
    }
  }
}
