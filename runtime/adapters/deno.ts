/**
 * The Deno adapter (platform.ts): node:net for connections (node-listen.ts),
 * Deno.serve for HTTP, and `deno run -A <main module>` to start this program
 * again. runtime/cli-deno.ts installs it.
 *
 * `Deno` is reached through a small typed view of globalThis, so this file
 * type-checks without Deno's own declarations.
 */
import type { Fetch } from "./http-serve.ts";
import { listen } from "./node-listen.ts";
import type { Platform } from "./platform.ts";

interface DenoApi {
  version: { deno: string };
  mainModule: string;
  execPath(): string;
  serve(o: { hostname: string; port: number; onListen?: () => void }, fetch: Fetch): { addr: { port: number }; shutdown(): Promise<void> };
}

function denoApi(): DenoApi {
  const d = (globalThis as { Deno?: DenoApi }).Deno;
  if (!d) throw new Error("beanrun: this entry point is for Deno (deno run -A ...); under Bun or Node run runtime/cli.ts (npx beanrun)");
  return d;
}
const Deno = denoApi();

export const deno: Platform = {
  name: `deno ${Deno.version.deno}`,
  canCompile: false,
  listen,
  serveHttp(host, port, fetch) {
    const s = Deno.serve({ hostname: host, port, onListen: () => {} }, fetch);
    return { port: s.addr.port, stop: () => s.shutdown() };
  },
  selfCommand(args) {
    return { file: Deno.execPath(), args: ["run", "-A", Deno.mainModule, ...args] };
  },
};
