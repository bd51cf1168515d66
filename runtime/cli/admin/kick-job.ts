/** `beanrun kick-job ID`: moves one buried or delayed job to ready. */
import { adminMain, CliError, out } from "./command.ts";
import { isNotFound, jobId, whyNotFound } from "./targets.ts";

const USAGE = `Use: beanrun kick-job ID [-s HOST:PORT]

Kicks the buried or delayed job ID back to ready.

  -s, --server HOST:PORT   the server (default $BEANRUN_SERVER, else 127.0.0.1:11300)`;

export const main = adminMain({
  name: "kick-job",
  usage: USAGE,
  positionals: { min: 1, max: 1 },
  async run({ client, args }) {
    const id = jobId(args.positionals[0]!);
    try {
      await client.kickJob(id);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      throw new CliError(await whyNotFound(client, id, "only buried or delayed jobs can be kicked"));
    }
    await out(`kicked job ${id}\n`);
  },
});
