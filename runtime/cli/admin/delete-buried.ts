/** `beanrun delete-buried TUBE [N | --all]`: drains a tube's buried jobs (its dead letters). */
import { parseCount, UsageError } from "./args.ts";
import { adminMain, out } from "./command.ts";
import { isNotFound, tubeName, useExisting } from "./targets.ts";

const USAGE = `Use: beanrun delete-buried TUBE [N | --all] [-s HOST:PORT]

Deletes TUBE's oldest buried job, the N oldest, or with --all every buried
job, one at a time (peek-buried, delete). Prints how many were deleted.

  --all                    until no buried job is left
  -s, --server HOST:PORT   the server (default $BEANRUN_SERVER, else 127.0.0.1:11300)`;

export const main = adminMain({
  name: "delete-buried",
  usage: USAGE,
  flags: [{ name: "all", value: false }],
  positionals: { min: 1, max: 2 },
  async run({ client, args }) {
    const [tubeArg, nArg] = args.positionals;
    const tube = tubeName(tubeArg!);
    const all = args.switches.has("all");
    if (all && nArg !== undefined) throw new UsageError("give either N or --all");
    const limit = all ? Infinity : nArg === undefined ? 1 : parseCount("N", nArg);
    await useExisting(client, tube);
    let deleted = 0;
    while (deleted < limit) {
      const job = await client.peekBuried();
      if (!job) break;
      try {
        await client.delete(job.id);
        deleted++;
      } catch (e) {
        // Someone else kicked or deleted it between our peek and delete: look again.
        if (!isNotFound(e)) throw e;
      }
    }
    await out(`deleted ${deleted} buried job${deleted === 1 ? "" : "s"} in tube ${tube}\n`);
  },
});
