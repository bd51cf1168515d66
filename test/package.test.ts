/**
 * beanrun from the outside, as a user's project gets it: the `npm pack`
 * tarball installed into a fresh project (test/package/consumer.ts, shared
 * with the README test), with only Node and npm on PATH. In that project:
 * `init`, a new job, `run` processing jobs put by a Node ESM and a CommonJS
 * script (which must exit on their own), `build` with the executable run
 * from an empty directory, and Deno running the same project. Figures for
 * the issue note are printed: tarball size and files, `npx beanrun run` to
 * the first processed job, the executable's size (noisy on a shared machine).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Consumer, consumer, ROOT, sh } from "./package/consumer.ts";

let c: Consumer;
let app: string;
const running = new Set<ChildProcess>();

/** A long-lived command in its own process group (so stopping it reaches npx, the launcher, Bun and the workers). */
function start(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const proc = spawn(cmd, args, { cwd, env: { ...c.env, ...env }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  running.add(proc);
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
  return {
    output: () => out,
    async waitFor(re: RegExp, ms = 60_000): Promise<RegExpMatchArray> {
      const end = Date.now() + ms;
      for (;;) {
        const m = out.match(re);
        if (m) return m;
        if (proc.exitCode !== null || Date.now() > end) throw new Error(`never saw ${re} (exit ${proc.exitCode}):\n${out}`);
        await Bun.sleep(20);
      }
    },
    async stop(): Promise<void> {
      try {
        process.kill(-proc.pid!, "SIGTERM");
      } catch {
        // already gone
      }
      await exited;
      running.delete(proc);
    },
  };
}

/** Runs a short command as a user would; returns its exit code and output. */
function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { cwd, env: { ...c.env, ...env }, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const ESM = `import { enqueue } from "beanrun";
console.log("id", await enqueue("greet", { who: process.argv[2] }));
`;
const CJS = `const { enqueue } = require("beanrun");
enqueue("greet", { who: process.argv[2] }).then((id) => console.log("id", id));
`;

beforeAll(async () => {
  c = await consumer();
  sh("npx", ["beanrun", "init", "app"], { cwd: c.workspace, env: c.env });
  app = join(c.workspace, "app");
  sh("npm", ["install"], { cwd: app, env: c.env });
  writeFileSync(
    join(app, "jobs/greet.ts"),
    `import * as v from "valibot";
import { defineJob } from "beanrun";

export default defineJob({
  schema: v.object({ who: v.string() }),
  async handler(payload, ctx) {
    ctx.log.info(\`greeted \${payload.who}\`);
  },
});
`,
  );
  writeFileSync(join(app, "put.mjs"), ESM);
  writeFileSync(join(app, "put.cjs"), CJS);
}, 300_000);

afterAll(async () => {
  for (const p of running) {
    try {
      process.kill(-p.pid!, "SIGKILL");
    } catch {
      // gone
    }
  }
});

test("the tarball holds what users run and nothing else", () => {
  const list = sh("tar", ["tzf", c.tarball], { cwd: c.tmp }).trim().split("\n");
  const size = statSync(c.tarball).size;
  console.log(`figure: tarball ${(size / 1024).toFixed(0)} KiB, ${list.length} files`);
  expect(list).toContain("package/bin/beanrun.cjs");
  expect(list).toContain("package/runtime/cli.ts");
  expect(list).toContain("package/dist/node/index.js");
  expect(list).toContain("package/dist/node/index.cjs");
  expect(list).toContain("package/dist/types/index.d.ts");
  expect(list.filter((f) => /^package\/(test|bench|deploy|jobs|scripts)\//.test(f))).toEqual([]);
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; dependencies: Record<string, string> };
  expect(Object.keys(pkg.dependencies)).toContain("bun");
  expect(run("npx", ["beanrun", "--version"], app).out.trim()).toBe(`beanrun ${pkg.version}`);
});

test("bad usage names the flag in full and exits 2; build without jobs/ exits 2", () => {
  const bad = run("npx", ["beanrun", "run", "--jbos", "x"], app);
  expect(bad.code).toBe(2);
  expect(bad.out).toContain('unknown flag "--jbos"');
  const empty = join(c.tmp, "no-jobs");
  mkdirSync(empty, { recursive: true });
  const build = run(join(app, "node_modules/.bin/beanrun"), ["build"], empty);
  expect(build.code).toBe(2);
  expect(build.out).toContain("no jobs directory");
});

test("npx beanrun run processes jobs put by a Node ESM script and a CommonJS script, which exit on their own", async () => {
  const t0 = performance.now();
  const r = start("npx", ["beanrun", "run", "-p", "0"], app);
  try {
    const port = (await r.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]!;
    await r.waitFor(/running \d+ tubes/);
    const env = { BEANRUN_SERVER: `127.0.0.1:${port}` };
    const esm = run("node", ["put.mjs", "esm"], app, env);
    expect(esm).toMatchObject({ code: 0 });
    await r.waitFor(/greeted esm/);
    console.log(`figure: npx beanrun run to the first processed job: ${(performance.now() - t0).toFixed(0)} ms (ESM producer included)`);
    const cjs = run("node", ["put.cjs", "cjs"], app, env);
    expect(cjs).toMatchObject({ code: 0 });
    await r.waitFor(/greeted cjs/);
  } finally {
    await r.stop();
  }
}, 120_000);

test("npx beanrun build: the executable runs the project's jobs from an empty directory", async () => {
  const b = run("npx", ["beanrun", "build"], app);
  expect(b.code).toBe(0);
  const exe = join(app, "dist/beanrun");
  console.log(`figure: executable ${(statSync(exe).size / 1024 / 1024).toFixed(1)} MiB`);
  const empty = join(c.tmp, "empty");
  mkdirSync(empty);
  copyFileSync(exe, join(empty, "beanrun"));
  spawnSync("chmod", ["+x", join(empty, "beanrun")]);
  const r = start(join(empty, "beanrun"), ["run", "-p", "0"], empty, { PATH: "/usr/bin:/bin" });
  try {
    const port = (await r.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]!;
    await r.waitFor(/running 2 tubes/);
    expect(run("node", ["put.mjs", "exe"], app, { BEANRUN_SERVER: `127.0.0.1:${port}` }).code).toBe(0);
    await r.waitFor(/greeted exe/);
  } finally {
    await r.stop();
  }
}, 180_000);

test("Deno runs the same project", async () => {
  const r = start("deno", ["run", "-A", "node_modules/beanrun/dist/node/cli.js", "run", "-p", "0"], app);
  try {
    const port = (await r.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]!;
    await r.waitFor(/running 2 tubes/);
    expect(run("node", ["put.cjs", "deno"], app, { BEANRUN_SERVER: `127.0.0.1:${port}` }).code).toBe(0);
    await r.waitFor(/greeted deno/);
  } finally {
    await r.stop();
  }
}, 120_000);
