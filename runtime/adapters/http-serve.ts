/** Serves a fetch handler: Bun.serve under Bun, Deno.serve under Deno. */
export interface HttpListener {
  readonly port: number;
  stop(): Promise<void>;
}

type Fetch = (req: Request) => Response | Promise<Response>;

interface BunServeLike {
  serve(o: { hostname: string; port: number; fetch: Fetch }): { port: number; stop(force?: boolean): unknown };
}
interface DenoServeLike {
  serve(
    o: { hostname: string; port: number; onListen?: () => void },
    fetch: Fetch,
  ): {
    addr: { port: number };
    shutdown(): Promise<void>;
  };
}

export function serveHttp(host: string, port: number, fetch: Fetch): HttpListener {
  const g = globalThis as { Bun?: BunServeLike; Deno?: DenoServeLike };
  if (g.Bun) {
    const s = g.Bun.serve({ hostname: host, port, fetch });
    return { port: s.port, stop: async () => void s.stop(true) };
  }
  if (g.Deno) {
    const s = g.Deno.serve({ hostname: host, port, onListen: () => {} }, fetch);
    return { port: s.addr.port, stop: () => s.shutdown() };
  }
  throw new Error("no HTTP server in this runtime (need Bun or Deno)");
}
