/** The start-up line for `--http` (serve and run), with a warning when the console is reachable off loopback without a token. */
import { isLoopbackHost } from "../http/guard.ts";
import type { Server } from "../server/index.ts";

export function announceConsole(server: Server, token: string | undefined, log = (s: string) => console.error(s)): void {
  if (server.httpPort === undefined) return;
  const host = server.httpHost ?? "127.0.0.1";
  log(`beanrun: console and metrics on http://${host.includes(":") ? `[${host}]` : host}:${server.httpPort}/`);
  if (!isLoopbackHost(host) && !token) {
    log("beanrun: the console is not on loopback and has no --http-token: it is read-only and hides job bodies");
  }
}
