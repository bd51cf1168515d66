/** `beanrun peek ID` / `beanrun peek TUBE ready|delayed|buried`: one job, its stats and body. */
import { Buffer } from "node:buffer";
import { BeanstalkError, type Client, type Job } from "../../client/index.ts";
import { type FailureRecord, parseFailureRecord } from "../../failures/record.ts";
import { UsageError } from "./args.ts";
import { adminMain, CliError, out } from "./command.ts";
import { jsonText, keyValues } from "./format.ts";
import { jobId, onJob, tubeName, useExisting } from "./targets.ts";

const USAGE = `Use: beanrun peek ID [--json | --body] [-s HOST:PORT]
       beanrun peek TUBE ready|delayed|buried [--json | --body] [-s HOST:PORT]

Shows a job without reserving it: the job with id ID, or TUBE's next ready
job, the delayed job with the least delay left, or the oldest buried job.
Prints its stats-job fields, its last failure record when the server keeps
one (beanrun's \`peek-note\` extension: message, attempt, time, duration,
worker pid, stack), a blank line and the body.

  --body                   only the body, bytes unchanged (for pipes)
  --json                   {id, stats, [failure], body, encoding}: body is UTF-8 text
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
    const failure = await failureOf(client, job.id);
    if (json) {
      const text = utf8OrNull(job.body);
      return out(
        jsonText({
          id: job.id,
          stats,
          ...(failure ? { failure } : {}),
          body: text ?? Buffer.from(job.body).toString("base64"),
          encoding: text === null ? "base64" : "utf8",
        }),
      );
    }
    const ends = job.body.length === 0 || job.body[job.body.length - 1] === 10;
    await out(`${keyValues(Object.entries(stats.raw))}\n`);
    if (failure) await out(formatFailure(failure));
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

/** The job's failure record, or null (none, or a server without the extension, such as beanstalkd). */
async function failureOf(client: Client, id: number): Promise<FailureRecord | null> {
  try {
    const text = await client.peekNote(id);
    return text === null ? null : parseFailureRecord(text);
  } catch (e) {
    if (e instanceof BeanstalkError && e.code === "UNKNOWN_COMMAND") return null;
    throw e;
  }
}

function formatFailure(f: FailureRecord): string {
  const head = [
    `last-failure: ${f.message.split("\n")[0]}`,
    `failure-attempt: ${f.attempt}`,
    `failure-time: ${new Date(f.at).toISOString()}`,
    `failure-ms: ${f.ms}`,
    ...(f.pid !== undefined ? [`failure-pid: ${f.pid}`] : []),
    ...(f.outcome ? [`failure-outcome: ${f.outcome}`] : []),
  ];
  const stack = f.stack
    ? `${f.stack
        .replace(/\n*$/, "")
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n")}\n`
    : "";
  return `${head.join("\n")}\n${stack ? `failure-stack: |\n${stack}` : ""}`;
}
