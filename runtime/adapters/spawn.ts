/**
 * Starts this same program in worker mode, with an IPC channel, the same way
 * under Bun, a `bun build --compile` executable and Deno; the command comes
 * from the runtime's adapter (platform.ts selfCommand):
 *   compiled:  <exe> worker ...
 *   bun:       bun <main.ts> worker ...
 *   deno:      deno run -A <main module> worker ...
 * node:child_process with "ipc" stdio works in all three. Under Bun (not
 * compiled) a worker starts from the bundle of its code once there is one
 * (worker-bundle.ts): bun <bundle> worker ...
 */
import { type ChildProcess, spawn } from "node:child_process";
import { platform } from "./platform.ts";
import { workerBundle } from "./worker-bundle.ts";

export interface SpawnedWorker {
  readonly pid: number;
  send(msg: object): void;
  kill(signal: NodeJS.Signals): void;
  onMessage(fn: (msg: unknown) => void): void;
  /** Once, with the exit code or the signal that ended it. */
  onExit(fn: (code: number | null, signal: string | null) => void): void;
}

/** Spawns this program with `args`; stdout/stderr are shared with ours. */
export function spawnSelf(args: readonly string[], env: Record<string, string | undefined>): SpawnedWorker {
  const bundle = platform().bundleWorkers ? workerBundle() : null;
  const cmd = bundle ? { file: process.execPath, args: [bundle, ...args] } : platform().selfCommand(args);
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) childEnv[k] = v;
  // A compiled binary with BUN_BE_BUN=1 would act as the bun CLI instead of our worker.
  delete childEnv.BUN_BE_BUN;
  const child: ChildProcess = spawn(cmd.file, cmd.args, {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: childEnv,
    serialization: "json",
  });
  let exited = false;
  const exitFns: ((code: number | null, signal: string | null) => void)[] = [];
  const done = (code: number | null, signal: string | null): void => {
    if (exited) return;
    exited = true;
    for (const fn of exitFns) fn(code, signal);
  };
  child.on("exit", (code, signal) => done(code, signal));
  child.on("error", () => done(child.exitCode ?? 1, null));
  return {
    get pid() {
      return child.pid ?? -1;
    },
    send(msg) {
      if (!exited && child.connected) {
        try {
          child.send(msg);
        } catch {
          // The worker is going away; its exit is reported separately.
        }
      }
    },
    kill(signal) {
      if (!exited) child.kill(signal);
    },
    onMessage(fn) {
      child.on("message", fn);
    },
    onExit(fn) {
      exitFns.push(fn);
    },
  };
}
