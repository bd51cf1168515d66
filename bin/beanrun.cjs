#!/usr/bin/env node
/**
 * The `beanrun` command as npm installs it (`npx beanrun ...`). beanrun runs
 * on Bun, and Bun comes with this package as the `bun` npm dependency, so a
 * machine with only Node and npm needs nothing else: this launcher finds that
 * Bun binary and runs runtime/cli.ts with it, passing arguments, stdio,
 * signals and the exit status through. Plain CommonJS so any Node >= 18 runs
 * it. BEANRUN_BUN=/path/to/bun overrides the choice.
 */
"use strict";
const { spawn } = require("node:child_process");
const { statSync } = require("node:fs");
const path = require("node:path");

const cli = path.join(__dirname, "..", "runtime", "cli.ts");

/** A real executable, not the small placeholder the bun package ships before its postinstall runs. */
function isBinary(file) {
  try {
    return statSync(file).size > 1_000_000;
  } catch {
    return false;
  }
}

function findBun() {
  if (process.env.BEANRUN_BUN) return process.env.BEANRUN_BUN;
  const candidates = [];
  try {
    const pkg = path.dirname(require.resolve("bun/package.json", { paths: [path.join(__dirname, "..")] }));
    candidates.push(path.join(pkg, "bin", "bun.exe"));
    // Without bun's postinstall the binary stays in its platform package.
    const arch = process.arch === "arm64" ? "aarch64" : process.arch;
    const os = process.platform === "win32" ? "windows" : process.platform;
    for (const suffix of ["", "-musl", "-baseline", "-musl-baseline"]) {
      try {
        const dir = path.dirname(require.resolve(`@oven/bun-${os}-${arch}${suffix}/package.json`, { paths: [pkg] }));
        candidates.push(path.join(dir, "bin", os === "windows" ? "bun.exe" : "bun"));
      } catch {
        // not installed for this platform
      }
    }
  } catch {
    // no bun package: fall back to PATH below
  }
  return candidates.find(isBinary) ?? "bun";
}

const bun = findBun();
const env = { ...process.env };
delete env.BUN_BE_BUN;
const child = spawn(bun, [cli, ...process.argv.slice(2)], { stdio: "inherit", env });

// A signal sent to this process alone (kill, a process manager, a test
// harness) is passed on. Ctrl-C in a terminal already reaches the child,
// which is in the same foreground process group: passing that SIGINT on as
// well would look like a second Ctrl-C, which means "stop now" to `run`.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2"]) {
  process.on(sig, () => {
    if (sig === "SIGINT" && process.stdin.isTTY) return;
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
  });
}

child.on("error", (e) => {
  const hint =
    e.code === "ENOENT" ? " (the bun package was not installed; reinstall beanrun without --ignore-scripts, or set BEANRUN_BUN)" : "";
  console.error(`beanrun: cannot start Bun at ${bun}: ${e.message}${hint}`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  if (signal) {
    // Die the same way, so callers see the signal.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else process.exit(code ?? 1);
});
