/**
 * `beanrun build`: one executable with the runtime and every job module.
 * The jobs are extra entry points, so they exist inside the executable under
 * /$bunfs/root/<jobs dir>/ and the runner finds them there at run time.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { listJobFiles } from "../runner/discover.ts";

const USAGE = `Use: beanrun build [--jobs DIR] [--outfile PATH] [--target bun-linux-x64|...] [--no-minify]

Compiles runtime/cli.ts and every job in DIR (default jobs/) into one
executable (default dist/beanrun) that needs neither Bun nor node_modules.`;

const ROOT = resolve(import.meta.dir, "../..");

export async function main(argv: string[]): Promise<number> {
  let jobsDir = "jobs";
  let outfile = "dist/beanrun";
  let target: string | undefined;
  let minify = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} requires a value`);
      return x;
    };
    if (a === "--jobs") jobsDir = v();
    else if (a === "--outfile" || a === "-o") outfile = v();
    else if (a === "--target") target = v();
    else if (a === "--no-minify") minify = false;
    else if (a === "-h" || a === "--help") {
      console.log(USAGE);
      return 0;
    } else {
      console.error(`beanrun build: unknown argument "${a}"\n\n${USAGE}`);
      return 2;
    }
  }
  const bun = (globalThis as { Bun?: unknown }).Bun ? process.execPath : "bun";
  if ((process.argv[1] ?? "").startsWith("/$bunfs/")) {
    console.error("beanrun build: run it from the source tree (bun runtime/cli.ts build)");
    return 2;
  }
  const jobsAbs = resolve(jobsDir);
  if (!existsSync(jobsAbs) || !statSync(jobsAbs).isDirectory()) {
    console.error(`beanrun build: no jobs directory at ${jobsDir}`);
    return 1;
  }
  // The common root of all entry points decides the /$bunfs paths, so pin it.
  const root = commonRoot(ROOT, jobsAbs);
  const embedded = relative(root, jobsAbs).split("\\").join("/");
  const { files } = listJobFiles(jobsAbs);
  const out = resolve(outfile);
  mkdirSync(dirname(out), { recursive: true });

  const args = [
    "build",
    "--compile",
    "--format=esm",
    "--bytecode",
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
