/** `beanrun top`: a live view of the server and its tubes, refreshed every few seconds. */
import process from "node:process";
import type { Client } from "../../client/index.ts";
import { parseCount, parseSeconds, UsageError } from "./args.ts";
import { adminMain, out } from "./command.ts";
import { tubeStats } from "./snapshot.ts";
import { renderTop, type Sample } from "./top-view.ts";

const USAGE = `Use: beanrun top [--interval S] [--count N] [-s HOST:PORT]

Shows server totals, rates and connections, and one line per tube with its
job counts, put/s and deleted/s, refreshed every S seconds (default 1,
fractions allowed). On a terminal the screen is redrawn; otherwise each
refresh is printed as a block. Stops on Ctrl-C, or after N refreshes.

  --interval S             seconds between refreshes (default 1)
  --count N                stop after N refreshes
  -s, --server HOST:PORT   the server (default $BEANRUN_SERVER, else 127.0.0.1:11300)`;

// Home the cursor and clear the screen, so each refresh replaces the last.
const CLEAR = "\x1b[H\x1b[2J";

async function sample(client: Client): Promise<Sample> {
  const [server, tubes] = await Promise.all([client.stats(), tubeStats(client)]);
  return { at: performance.now(), server, tubes };
}

export const main = adminMain({
  name: "top",
  usage: USAGE,
  flags: [
    { name: "interval", value: true },
    { name: "count", value: true },
  ],
  positionals: { min: 0, max: 0 },
  async run({ client, args, server }) {
    const intervalArg = args.values.get("interval");
    const countArg = args.values.get("count");
    const interval = intervalArg === undefined ? 1 : parseSeconds("--interval", intervalArg);
    const count = countArg === undefined ? Infinity : parseCount("--count", countArg);
    if (count === 0) throw new UsageError("--count must be at least 1");
    const tty = process.stdout.isTTY === true;

    let stopped = false;
    let wake = (): void => {};
    const stop = (): void => {
      stopped = true;
      wake();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    try {
      let prev: Sample | null = null;
      for (let n = 0; n < count && !stopped; n++) {
        if (n > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, interval * 1000);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          if (stopped) break;
        }
        const cur = await sample(client);
        const header = `beanrun top  ${server}  ${new Date().toTimeString().slice(0, 8)}  every ${interval}s`;
        const view = renderTop(prev, cur, header);
        await out(tty ? CLEAR + view : n > 0 ? `\n${view}` : view);
        prev = cur;
      }
    } finally {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
    }
  },
});
