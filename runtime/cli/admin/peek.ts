/** `beanrun peek ID` / `beanrun peek TUBE ready|delayed|buried`: one job, its stats and body. */
import { Buffer } from "node:buffer";
import type { Client, Job } from "../../client/index.ts";
import { UsageError } from "./args.ts";
import { adminMain, CliError, out } from "./command.ts";
import { jsonText, keyValues } from "./format.ts";
import { jobId, onJob, tubeName, useExisting } from "./targets.ts";

const USAGE = `Use: beanrun peek ID [--json | --body] [-s HOST:PORT]
       beanrun peek TUBE ready|delayed|buried [--json | --body] [-s HOST:PORT]

Shows a job without reserving it: the job with id ID, or TUBE's next ready
job, the delayed job with the least delay left, or the oldest buried job.
Prints its stats-job fields, a blank line and the body.

  --body                   only the body, bytes unchanged (for pipes)
  --json                   {id, stats, body, encoding}: body is UTF-8 text
                           ("encoding": "utf8") or base64 ("encoding": "base64")
  -s, --server HOST:PORT   the server (default $BEANRUN_SERVER, else 127.0.0.1:11300)`;

type Where = "ready" | "delayed" | "buried";
const WHERE: readonly string[] = ["ready", "delayed", "buried"] satisfies Where[];

export const main = adminMain({
  name: "peek",
  usage: USAGE,
  json: true,
  flags: [{ name: "body", value: false }],
  positionals: { min: 1, max: 2 },
  async run({ client, args, json }) {
    const [first, second] = args.positionals;
    if (json && args.switches.has("body")) throw new UsageError("--json and --body exclude each other");
    let job: Job;
    if (second === undefined) {
      if (!/^\d+$/.test(first!)) throw new UsageError(`expected a job id, or TUBE ready|delayed|buried; got "${first}"`);
      const id = jobId(first!);
      const found = await client.peek(id);
      if (!found) throw new CliError(`job ${id} not found`);
      job = found;
    } else {
      if (!WHERE.includes(second)) throw new UsageError(`expected ready, delayed or buried after the tube, got "${second}"`);
      job = await peekTube(client, tubeName(first!), second as Where);
    }
    if (args.switches.has("body")) return out(job.body);
    const stats = await onJob(job.id, client.statsJob(job.id));
    if (json) {
      const text = utf8OrNull(job.body);
      return out(
        jsonText({
          id: job.id,
          stats,
          body: text ?? Buffer.from(job.body).toString("base64"),
          encoding: text === null ? "base64" : "utf8",
        }),
      );
    }
    const ends = job.body.length === 0 || job.body[job.body.length - 1] === 10;
    await out(`${keyValues(Object.entries(stats.raw))}\n`);
    await out(job.body);
    if (!ends) await out("\n");
  },
});

async function peekTube(client: Client, tube: string, where: Where): Promise<Job> {
  await useExisting(client, tube);
  const job = await (where === "ready" ? client.peekReady() : where === "delayed" ? client.peekDelayed() : client.peekBuried());
  if (!job) throw new CliError(`tube ${tube} has no ${where} job`);
  return job;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function utf8OrNull(bytes: Uint8Array): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}
