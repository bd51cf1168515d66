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
import { type FlagSpec, HELP, parseFlags, UsageError, usageFailure } from "./flags.ts";

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

export async function main(argv: string[]): Promise<number> {
  let jobsDir: string;
  let outfile: string;
  let target: string | undefined;
  let minify: boolean;
  try {
    const args = parseFlags(argv, FLAGS);
    if (args.switches.has("help")) {
      console.log(USAGE);
      return 0;
    }
    if (args.positionals.length) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    jobsDir = args.values.get("jobs") ?? "jobs";
    outfile = args.values.get("outfile") ?? "dist/beanrun";
    target = args.values.get("target");
    minify = !args.switches.has("no-minify");
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return usageFailure("build", e, USAGE);
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
  const jobsAbs = resolve(jobsDir);
  if (!existsSync(jobsAbs) || !statSync(jobsAbs).isDirectory()) {
    console.error(
      `beanrun build: no jobs directory at ${jobsAbs}: put job modules in ${jobsDir}/<tube>.ts, or pass --jobs DIR (\`npx beanrun init\` creates a project)`,
    );
    return 2;
  }
  // The common root of all entry points decides the /$bunfs paths, so pin it.
  const root = commonRoot(ROOT, jobsAbs);
  const embedded = relative(root, jobsAbs).split("\\").join("/");
  let files;
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
  const out = resolve(outfile);
  mkdirSync(dirname(out), { recursive: true });

  const args = [
    "build",
    "--compile",
    "--format=esm",
    "--bytecode",
    // Stack traces name the original files: errors point at jobs/<tube>.ts, and enqueue(job) knows a job's tube from where defineJob was called.
    "--sourcemap",
    ...(minify ? ["--minify"] : []),
    ...(target ? [`--target=${target}`] : []),
    "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig",
    `--root=${root}`,
    `--define=BEANRUN_EMBEDDED_JOBS=${JSON.stringify(embedded)}`,
    `--outfile=${out}`,
    join(ROOT, "runtime/cli.ts"),
    ...files.map((f) => f.path),
  ];
  const t0 = performance.now();
  const r = spawnSync(bun, args, { stdio: "inherit", env: withoutBeBun(process.env) });
  if (r.status !== 0) {
    console.error(`beanrun build: bun build failed (${r.status ?? r.signal})`);
    return 1;
  }
  const mb = (statSync(out).size / 1e6).toFixed(0);
  console.error(
    `beanrun build: ${relative(process.cwd(), out)} (${mb} MB, ${files.length} job${files.length === 1 ? "" : "s"}: ${files
      .map((f) => f.tube)
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
