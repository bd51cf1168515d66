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
