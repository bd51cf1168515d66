/**
 * A front end whose jobs live in PostgreSQL (`serve --store postgres://...`):
 * the platform's transport, one Session per connection, one Front per process.
 * Any number of these share one database; each is stateless apart from its
 * connections, so it can be killed and replaced at any time.
 */
import type { HttpListener } from "../../adapters/http-serve.ts";
import { platform } from "../../adapters/platform.ts";
import type { TransportSocket } from "../../adapters/transport.ts";
import { type Console, createConsole } from "../../http/handler.ts";
import { hostInfo } from "../../server/host.ts";
import type { Server, StartOptions } from "../../server/index.ts";
import { VERSION } from "../../version.ts";
import { storeSource } from "./console-source.ts";
import { FrontContext } from "./context.ts";
import { Front } from "./front.ts";
import { Session } from "./session.ts";

export async function startPostgresServer(url: string, opts: StartOptions, defaults: { host: string; port: number }): Promise<Server> {
  if (opts.walDir !== undefined) throw new Error("-b and --store are exclusive: PostgreSQL is the log");
  const log = opts.log ?? ((l: string) => console.error(l));
  const compat = opts.compat ?? "1.13";
  const front = await Front.open({ url, log });
  const ctx = new FrontContext(front, hostInfo(compat), compat, opts.maxJobSize ?? 65535, log);
  let seq = 0;
  const accept = (sock: TransportSocket): Session => {
    const s = new Session(ctx, sock);
    if (!opts.verbose) return s;
    const n = ++seq;
    log(`beanrun: accept ${n}`);
    const onClose = s.onClose.bind(s);
    s.onClose = () => {
      log(`beanrun: close ${n}`);
      onClose();
    };
    return s;
  };
  const listen = opts.listen ?? platform().listen;
  let listener;
  try {
    listener = await listen(opts.host ?? defaults.host, opts.port ?? defaults.port, accept, () => {});
  } catch (e) {
    await front.close();
    throw e;
  }
  // The console and /metrics: the same handler as the in-memory server's, fed from the database.
  let http: HttpListener | undefined;
  let httpConsole: Console | undefined;
  const httpHost = opts.httpHost ?? defaults.host;
  if (opts.httpPort !== undefined) {
    try {
      httpConsole = createConsole({
        source: storeSource(ctx),
        build: { version: VERSION, protocol: compat, runtime: platform().name },
        server: { host: listener.host, port: listener.port },
        bindHost: httpHost,
        allowedHosts: opts.httpAllowHosts,
        token: opts.httpToken,
      });
      http = platform().serveHttp(httpHost, opts.httpPort, httpConsole.fetch);
    } catch (e) {
      await listener.stop();
      await front.close();
      throw e;
    }
  }
  return {
    host: listener.host,
    port: listener.port,
    httpPort: http?.port,
    httpHost: http ? httpHost : undefined,
    console: httpConsole,
    drain: () => {
      ctx.draining = true;
    },
    close: async () => {
      await listener.stop();
      await http?.stop();
      httpConsole?.close();
      await front.close();
    },
  };
}
