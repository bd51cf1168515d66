/** `beanrun delete ID...`: deletes jobs by id. */
import { adminMain, out } from "./command.ts";
import { isNotFound, jobId, whyNotFound } from "./targets.ts";

const USAGE = `Use: beanrun delete ID... [-s HOST:PORT]

Deletes each job (ready, delayed or buried; a job reserved by a worker
cannot be deleted by anyone else). Prints one line per deleted job; exits 1
if any id could not be deleted.

  -s, --server HOST:PORT   the server (default $BEANRUN_SERVER, else 127.0.0.1:11300)`;

export const main = adminMain({
  name: "delete",
  usage: USAGE,
  positionals: { min: 1, max: Infinity },
  async run({ client, args }) {
    const ids = args.positionals.map(jobId);
    // Pipelined: one round trip for all ids; each outcome is reported on its own.
    const outcomes = await Promise.allSettled(ids.map((id) => client.delete(id)));
    let failed = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const o = outcomes[i]!;
      if (o.status === "fulfilled") {
        await out(`deleted job ${id}\n`);
        continue;
      }
      if (!isNotFound(o.reason)) throw o.reason;
      failed++;
      console.error(`beanrun delete: ${await whyNotFound(client, id, "it is held by a worker and only that worker can delete it")}`);
    }
    return failed ? 1 : 0;
  },
});
