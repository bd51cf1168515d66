/**
 * Serving a fetch handler over HTTP (the console, metrics): the interface.
 * Each runtime's adapter implements it with its own server, Bun.serve in
 * bun.ts and Deno.serve in deno.ts; callers get it from platform().
 */
export type Fetch = (req: Request) => Response | Promise<Response>;

export interface HttpListener {
  readonly port: number;
  stop(): Promise<void>;
}

/** Serves `fetch` on host:port until stopped. */
export type ServeHttp = (host: string, port: number, fetch: Fetch) => HttpListener;
