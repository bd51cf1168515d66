/**
 * A job that shows retries, then bury: it calls an upstream service that is
 * down (nothing listens on the port), so every attempt throws. It is retried
 * after 2 s, 4 s and 8 s, then buried after its 4th attempt; `kick` it once
 * the upstream is back.
 *
 *   printf 'use flaky-upstream\r\nput 0 0 10 2\r\n{}\r\n' | nc 127.0.0.1 11300
 */
import { connect } from "node:net";
import * as v from "valibot";
import { defineJob } from "../runtime/index.ts";

function ping(url: URL): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(Number(url.port || 80), url.hostname, () => {
      s.end();
      resolve();
    });
    s.setTimeout(2000, () => s.destroy(new Error(`${url.host}: timed out`)));
    s.on("error", (e) => reject(new Error(`upstream ${url.host} unavailable: ${e.message}`)));
  });
}

export default defineJob({
  tube: "flaky-upstream",
  schema: v.object({ upstream: v.optional(v.pipe(v.string(), v.url()), "http://127.0.0.1:9/") }),
  ttr: 10,
  retries: { attempts: 4, backoff: { base: 2, factor: 2 } },
  async handler({ upstream }, ctx) {
    ctx.log.info(`calling ${upstream}`);
    await ping(new URL(upstream));
  },
});
