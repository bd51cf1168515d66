/**
 * One packed and installed beanrun, shared by test/package.test.ts and
 * test/readme.test.ts (scripts/test.ts, `npm test`, runs those two files in
 * one process, so the tarball is built and installed once per run):
 *
 *   tarball    `npm pack` of this repository (prepack builds dist/node and dist/types)
 *   workspace  a fresh project that installed the tarball plus what
 *              `beanrun init` puts in a project (valibot, typescript,
 *              @types/node), so npm's cache then holds everything a
 *              consumer project needs and later installs run --offline
 *   bin        a PATH directory for "a machine with Node and npm": an `npm`
 *              that resolves a project's `beanrun` dependency to the tarball
 *              (beanrun is not on the registry while it is tested) and never
 *              downloads, and `deno` for the Deno checks. No bun on it: the
 *              package must bring its own.
 *
 * Everything lives in one temp directory, removed when the process exits.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export const ROOT = join(import.meta.dir, "../..");

export interface Consumer {
  tmp: string;
  tarball: string;
  workspace: string;
  bin: string;
  /** Environment for commands run as a user would: PATH = bin, node's directory, /usr/bin, /bin. */
  env: Record<string, string>;
}

let cached: Promise<Consumer> | null = null;

export function consumer(): Promise<Consumer> {
  cached ??= build();
  return cached;
}

/** Runs a command to completion; throws with its output when it fails. */
export function sh(cmd: string, args: string[], opts: { cwd: string; env?: Record<string, string> }): string {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? (process.env as Record<string, string>),
    encoding: "utf8",
    timeout: 300_000,
  });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} (in ${opts.cwd}) failed: ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

function which(name: string): string {
  return sh("sh", ["-c", `command -v ${name}`], { cwd: ROOT }).trim();
}

async function build(): Promise<Consumer> {
  const tmp = mkdtempSync(join(tmpdir(), "beanrun-consumer-"));
  process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
  const packed = sh("npm", ["pack", "--pack-destination", tmp, "--silent"], { cwd: ROOT }).trim().split("\n").pop()!;
  const tarball = join(tmp, packed);

  const bin = join(tmp, "bin");
  mkdirSync(bin);
  const realNpm = which("npm");
  writeFileSync(
    join(bin, "npm"),
    `#!/bin/sh
# npm for the tests: a project's "beanrun" dependency is the tarball under test, and nothing is downloaded.
case "$1" in
  install|i|ci|add)
    if [ -f package.json ]; then
      node -e 'const f="package.json",p=JSON.parse(require("fs").readFileSync(f,"utf8"));if(p.dependencies&&p.dependencies.beanrun){p.dependencies.beanrun="file:${tarball}";require("fs").writeFileSync(f,JSON.stringify(p,null,2)+"\\n")}'
    fi
    exec "${realNpm}" "$@" --offline --no-audit --no-fund ;;
esac
exec "${realNpm}" "$@"
`,
  );
  chmodSync(join(bin, "npm"), 0o755);
  symlinkSync(join(ROOT, "node_modules/deno/deno"), join(bin, "deno"));
  const env: Record<string, string> = {
    PATH: [bin, dirname(which("node")), "/usr/bin", "/bin"].join(":"),
    HOME: process.env.HOME ?? tmp,
    LANG: "C.UTF-8",
  };

  const workspace = join(tmp, "workspace");
  mkdirSync(workspace);
  writeFileSync(
    join(workspace, "package.json"),
    JSON.stringify({
      name: "workspace",
      private: true,
      type: "module",
      dependencies: { beanrun: `file:${tarball}`, valibot: "^1.5.0" },
      devDependencies: { typescript: "^5.9.3", "@types/node": "^26.6.6" },
    }),
  );
  // The one install that may need the registry (for package metadata npm has not cached yet); the rest run --offline.
  sh(realNpm, ["install", "--prefer-offline", "--no-audit", "--no-fund"], {
    cwd: workspace,
    env: { ...process.env, ...env } as Record<string, string>,
  });
  return { tmp, tarball, workspace, bin, env };
}
