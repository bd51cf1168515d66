/**
 * `beanrun build`: one executable with the runtime and every job module of
 * the project it is run in (its jobs/, or --jobs DIR), written to that
 * project's dist/beanrun. The jobs are extra entry points, so they exist
 * inside the executable under /$bunfs/root/<jobs dir>/ and the runner finds
 * them there at run time; what they import (helpers, npm packages, beanrun
 * itself) is bundled in.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { isEmbedded } from "../adapters/embedded.ts";
import { platform } from "../adapters/platform.ts";
import { listJobFiles } from "../runner/discover.ts";
import { JobModuleError } from "../runner/validate.ts";
import { type FlagSpec, HELP, parseFlags, parseOrUsage, UsageError } from "./flags.ts";

const USAGE = `Use: beanrun build [--jobs DIR] [--outfile PATH] [--target bun-linux-x64|...] [--no-minify]

Compiles beanrun and every job in DIR (default jobs/) into one executable
(default dist/beanrun) that needs neither Bun nor node_modules:
  ./dist/beanrun run      the server and a worker per compiled-in job
  ./dist/beanrun serve    the server alone (every command works)
--target cross-compiles (bun-linux-arm64, bun-linux-x64-musl, bun-darwin-arm64, ...).`;

const FLAGS: readonly FlagSpec[] = [
  { name: "jobs", value: true },
  { name: "outfile", short: "o", value: true },
  { name: "target", value: true },
  { name: "no-minify", value: false },
  HELP,
];

/** beanrun's own root (where runtime/cli.ts is), in the source tree and in node_modules/beanrun alike. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

interface BuildFlags {
  help: boolean;
  jobsDir: string;
  outfile: string;
  target?: string;
  minify: boolean;
}

/** build's flags; throws UsageError. */
function parseBuildFlags(argv: string[]): BuildFlags {
  const args = parseFlags(argv, FLAGS);
  if (args.switches.has("help")) return { help: true, jobsDir: "jobs", outfile: "dist/beanrun", minify: true };
  if (args.positionals.length) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
  return {
    help: false,
    jobsDir: args.values.get("jobs") ?? "jobs",
    outfile: args.values.get("outfile") ?? "dist/beanrun",
    target: args.values.get("target"),
    minify: !args.switches.has("no-minify"),
  };
}

type JobFile = ReturnType<typeof listJobFiles>["files"][number];

/** The job modules to compile in, or the exit code once the reason is printed (no directory, a bad module, none at all). */
function jobModules(jobsDir: string, jobsAbs: string): JobFile[] | number {
  if (!existsSync(jobsAbs) || !statSync(jobsAbs).isDirectory()) {
    console.error(
      `beanrun build: no jobs directory at ${jobsAbs}: put job modules in ${jobsDir}/<tube>.ts, or pass --jobs DIR (\`npx beanrun init\` creates a project)`,
    );
    return 2;
  }
  let files: JobFile[];
  try {
    ({ files } = listJobFiles(jobsAbs));
  } catch (e) {
    if (!(e instanceof JobModuleError)) throw e;
    console.error(`beanrun build: ${e.message}`);
    return 1;
  }
  if (files.length === 0) {
    console.error(`beanrun build: no job modules in ${jobsDir}/ (files named <tube>.ts; names starting with _ are helpers)`);
    return 2;
  }
  return files;
}

/** `bun build --compile`'s arguments: the CLI plus every job module as entry points, under one pinned root. */
function bunBuildArgs(f: BuildFlags, jobsAbs: string, files: readonly JobFile[], out: string): string[] {
  // The common root of all entry points decides the /$bunfs paths, so pin it.
  const root = commonRoot(ROOT, jobsAbs);
  const embedded = relative(root, jobsAbs).split("\\").join("/");
  return [
    "build",
    "--compile",
    "--format=esm",
    // Each command in chunks of its own: a worker process (the executable started as `<exe> worker`) then loads
    // the worker's code and not the server's, the console's or the PostgreSQL driver's, nor the node: modules
    // they import: 73 -> 49 ms of CPU a worker start (bench/runner/worker-start.ts), what a burst of cold tubes waits for.
    "--splitting",
    "--bytecode",
    // Stack traces name the original files: errors point at jobs/<tube>.ts, and enqueue(job) knows a job's tube from where defineJob was called.
    "--sourcemap",
    ...(f.minify ? ["--minify"] : []),
    ...(f.target ? [`--target=${f.target}`] : []),
    "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig",
    `--root=${root}`,
    `--define=BEANRUN_EMBEDDED_JOBS=${JSON.stringify(embedded)}`,
    `--outfile=${out}`,
    join(ROOT, "runtime/cli.ts"),
    ...files.map((x) => x.path),
  ];
}

export async function main(argv: string[]): Promise<number> {
  const f = parseOrUsage("build", USAGE, parseBuildFlags, argv);
  if (typeof f === "number") return f;
  if (f.help) {
    console.log(USAGE);
    return 0;
  }
  const bun = process.execPath;
  if (isEmbedded(process.argv[1] ?? "")) {
    console.error("beanrun build: an executable cannot rebuild itself; run `npx beanrun build` in the project");
    return 2;
  }
  if (!platform().canCompile) {
    console.error("beanrun build: needs Bun (`npx beanrun build` brings it)");
    return 2;
  }
  const jobsAbs = resolve(f.jobsDir);
  const files = jobModules(f.jobsDir, jobsAbs);
  if (typeof files === "number") return files;
  const out = resolve(f.outfile);
  mkdirSync(dirname(out), { recursive: true });

  const t0 = performance.now();
  const r = spawnSync(bun, bunBuildArgs(f, jobsAbs, files, out), { stdio: "inherit", env: withoutBeBun(process.env) });
  if (r.status !== 0) {
    console.error(`beanrun build: bun build failed (${r.status ?? r.signal})`);
    return 1;
  }
  const mb = (statSync(out).size / 1e6).toFixed(0);
  console.error(
    `beanrun build: ${relative(process.cwd(), out)} (${mb} MB, ${files.length} job${files.length === 1 ? "" : "s"}: ${files
      .map((x) => x.tube)
      .join(", ")}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return 0;
}

function commonRoot(a: string, b: string): string {
  const pa = a.split("/");
  const pb = b.split("/");
  let i = 0;
  while (i < pa.length && i < pb.length && pa[i] === pb[i]) i++;
  return pa.slice(0, i).join("/") || "/";
}

function withoutBeBun(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const e = { ...env };
  delete e.BUN_BE_BUN;
  return e;
}
