/** `beanrun serve`: the beanstalkd-compatible server on its own. */
import process from "node:process";
import { startServer } from "../server/index.ts";
import { VERSION } from "../version.ts";
import { announceConsole } from "./console-note.ts";
import { parseOrUsage } from "./flags.ts";
import { listenFailure } from "./listen-error.ts";
import { parseServeFlags, SERVE_USAGE } from "./serve-flags.ts";
import { waitForStop } from "./stop-signal.ts";

export { parseServeFlags } from "./serve-flags.ts";

export async function main(argv: string[]): Promise<number> {
  const flags = parseOrUsage("serve", SERVE_USAGE, parseServeFlags, argv);
  if (typeof flags === "number") return flags;
  if (flags.action === "help") {
    console.log(SERVE_USAGE);
    return 0;
  }
  if (flags.action === "version") {
    console.log(`beanrun ${VERSION} (beanstalkd protocol ${flags.options.compat ?? "1.13"})`);
    return 0;
  }

  const o = flags.options;
  let server;
  try {
    server = await startServer(o);
  } catch (e) {
    console.error(`beanrun: ${listenFailure(e, o.host ?? "127.0.0.1", o.port ?? 11300)}`);
    return 1;
  }
  if (flags.user) {
    try {
      becomeUser(flags.user);
    } catch (e) {
      console.error(`beanrun: -u ${flags.user}: ${(e as Error).message}`);
      await server.close();
      return 1;
    }
  }
  if (flags.verbose) console.error(`beanrun: pid ${process.pid}`);
  console.error(`beanrun: listening on ${server.host}:${server.port}`);
  if (server.httpPort !== undefined) announceConsole(server, o.httpToken);

  process.on("SIGUSR1", () => {
    server.drain();
    if (flags.verbose) console.error("beanrun: draining: new jobs are refused");
  });
  await waitForStop(() => process.exit(1));
  await server.close();
  return 0;
}

function becomeUser(user: string): void {
  const p = process as unknown as { setgid?: (id: string | number) => void; setuid?: (id: string | number) => void };
  if (!p.setuid || !p.setgid) throw new Error("this runtime cannot change user");
  p.setgid(user);
  p.setuid(user);
}
