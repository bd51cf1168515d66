/**
 * The benchmark drivers' child processes.
 *
 * Everything a benchmark starts (server processes, temp directories) is
 * registered here and removed on exit or on a signal, so an interrupted run
 * leaves no server holding a port or a core.
 */
import { rmSync } from "node:fs";

export const children = new Set<Bun.Subprocess>();
export const tempDirs = new Set<string>();

export function cleanup(): void {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {}
  }
  children.clear();
  for (const d of tempDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {}
  }
  tempDirs.clear();
}

/** On SIGINT/SIGTERM/SIGHUP: say so (prefixed with `name`), clean up, exit 130. */
export function cleanupOnSignals(name: string): void {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      console.error(`\n${name}: ${sig}, stopping everything it started`);
      cleanup();
      process.exit(130);
    });
  }
}

/** Keeps the last `keep` characters of a stream (so a chatty child never blocks on a full pipe). */
export function tail(stream: ReadableStream<Uint8Array>, onText?: (all: string) => void, keep = 16384): { text(): string } {
  let text = "";
  (async () => {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      text += dec.decode(chunk, { stream: true });
      if (text.length > keep) text = text.slice(-keep);
      onText?.(text);
    }
  })().catch(() => {});
  return { text: () => text };
}

/** A beanrun server a benchmark started: its process, the port it printed, what it said on stderr. */
export interface Listening {
  proc: Bun.Subprocess;
  port: number;
  stderr(): string;
}

/** beanrun exited before printing its listening line: the exit code and its first stderr lines. */
export class StartFailure extends Error {
  constructor(
    readonly code: number | null,
    readonly said: string,
  ) {
    super(`beanrun exited at start (code ${code}): ${said}`);
  }
}

/**
 * Starts `argv` (a beanrun server given `-p 0`) in `cwd` and resolves once it
 * prints "listening on 127.0.0.1:PORT", with that port. The process is
 * registered in `children`. Rejects with a StartFailure if it exits first,
 * or an Error after `timeoutMs`.
 */
export async function spawnListening(argv: string[], cwd: string, timeoutMs = 15000): Promise<Listening> {
  const proc = Bun.spawn(argv, { cwd, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  children.add(proc);
  let port = 0;
  const err = tail(proc.stderr as ReadableStream<Uint8Array>, (t) => {
    const m = /listening on 127\.0\.0\.1:(\d+)/.exec(t);
    if (m) port = Number(m[1]);
  });
  const deadline = Date.now() + timeoutMs;
  while (!port) {
    if (proc.exitCode !== null) {
      await new Promise((r) => setTimeout(r, 50));
      children.delete(proc);
      throw new StartFailure(proc.exitCode, err.text().trim().split("\n").slice(0, 3).join(" / "));
    }
    if (Date.now() > deadline) throw new Error(`beanrun did not print its listening line within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return { proc, port, stderr: err.text };
}
