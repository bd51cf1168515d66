/**
 * The runtime beanrun runs on, as the few things the rest of the code needs
 * from it: accept TCP connections (transport.ts), serve HTTP (http-serve.ts),
 * start this program again as a worker (spawn.ts), its name, and, where the
 * runtime has them, native outgoing sockets (bun-connect.ts).
 *
 * One adapter per runtime implements it: bun.ts (Bun, and the executable
 * `bun build --compile` makes) and deno.ts (Deno, on node:net). An entry
 * point picks one by importing it and calls `usePlatform` once, before
 * anything else runs: runtime/cli.ts for Bun, runtime/cli-deno.ts for Deno
 * (the package's dist/node/cli.js is built from it). So the choice is made
 * when the program is built, not by looking at globals at run time, and a
 * build holds only its own adapter. The queue core (runtime/queue) never
 * sees any of this.
 *
 * Code that runs without an entry point (tests, benchmarks, an embedding
 * program) calls `usePlatform` itself; `platform()` before that is an error
 * that says so.
 */
import type { ByteSocket } from "../client/connection.ts";
import type { HttpListener, ServeHttp } from "./http-serve.ts";
import type { Listen } from "./transport.ts";

export interface Platform {
  /** The runtime and its version, e.g. "bun 1.4.5" (build_info, logs). */
  readonly name: string;
  /** True for Bun (and its compiled executables): `beanrun build` needs it. */
  readonly canCompile: boolean;
  readonly listen: Listen;
  readonly serveHttp: ServeHttp;
  /** Opens a TCP connection on the runtime's native sockets, if it has them (worker processes use it; else node:net). */
  readonly connect?: (host: string, port: number) => Promise<ByteSocket>;
  /** Workers may start from one bundle of their code (worker-bundle.ts): Bun, unless compiled (one bundle already). */
  readonly bundleWorkers?: boolean;
  /** The command that starts this program again with `args` after the program name. */
  selfCommand(args: readonly string[]): { file: string; args: string[] };
}

export type { HttpListener };

let chosen: Platform | null = null;

/** Sets the platform for this process (an entry point does this once, first). */
export function usePlatform(p: Platform): void {
  chosen = p;
}

export function platform(): Platform {
  if (chosen === null) {
    throw new Error(
      "beanrun: no runtime adapter chosen: start from runtime/cli.ts (Bun) or runtime/cli-deno.ts (Deno), or call usePlatform(bun) from runtime/adapters/bun.ts first",
    );
  }
  return chosen;
}
