/**
 * `beanrun tail [TUBE]`: job outcomes as they happen (id, tube, attempt,
 * outcome, duration, error), one line each, in the manner of `tail -f`.
 * Outcomes are known to the process that runs the workers (`beanrun run`),
 * which streams them from its console's /api/events (server-sent events),
 * so tail reads that: `--http [HOST:]PORT` (else $BEANRUN_HTTP). It runs
 * until interrupted, and reconnects when the runner restarts.
 */
import process from "node:process";
import type { JobOutcome } from "../../http/runner-view.ts";
import { parseArgs, UsageError } from "./args.ts";

const USAGE = `Use: beanrun tail [TUBE] [--http [HOST:]PORT] [--json] [--token TOKEN]

Prints each job outcome (done, retried, buried, timeout, invalid) of the
runner whose console is at --http (default $BEANRUN_HTTP), as it happens:
time, job id, tube, attempt, outcome, handler duration and the error.
Only TUBE's jobs when given. Runs until interrupted.

  --http [HOST:]PORT   the console of \`beanrun run --http ...\` (HOST defaults to 127.0.0.1)
  --json               one JSON object per line
  --token TOKEN        the console's token (else $BEANRUN_HTTP_TOKEN); needed off loopback`;

const RETRY_MS = 1000;

export function formatOutcome(o: JobOutcome): string {
  const t = new Date(o.at).toISOString().slice(11, 23);
  const err = o.error ? `  ${o.error.message.split("\n")[0]}` : "";
  return `${t}  #${o.id}  ${o.tube}  attempt ${o.attempt}  ${o.outcome}  ${Math.round(o.ms)} ms${err}`;
}

function target(v: string): string {
  const m = /^(?:(.+):)?(\d+)$/.exec(v);
  if (!m) throw new UsageError(`--http: expected [HOST:]PORT, got "${v}"`);
  const host = m[1] ?? "127.0.0.1";
  return `http://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${m[2]}`;
}

/** Reads one SSE connection until it ends; calls `each` per event's data. */
async function follow(url: string, token: string | undefined, each: (data: string) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal });
  if (!res.ok || !res.body) throw new Error(`${res.status} ${(await res.text()).trim()}`);
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += dec.decode(chunk, { stream: true });
    let end: number;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = block
        .split("\n")
        .filter((l) => l.startsWith("data: "))
        .map((l) => l.slice(6))
        .join("\n");
      if (data) each(data);
    }
  }
}

export async function main(argv: string[]): Promise<number> {
  let base: string;
  let tube: string | undefined;
  let json: boolean;
  let token: string | undefined;
  try {
    const a = parseArgs(argv, [
      { name: "help", short: "h", value: false },
      { name: "http", value: true },
      { name: "json", value: false },
      { name: "token", value: true },
    ]);
    if (a.switches.has("help")) {
      console.log(USAGE);
      return 0;
    }
    if (a.positionals.length > 1) throw new UsageError("at most one tube");
    const http = a.values.get("http") ?? process.env.BEANRUN_HTTP;
    if (!http) throw new UsageError("where is the runner's console? give --http [HOST:]PORT or set BEANRUN_HTTP");
    base = target(http);
    tube = a.positionals[0];
    json = a.switches.has("json");
    token = a.values.get("token") ?? process.env.BEANRUN_HTTP_TOKEN;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`beanrun tail: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  const url = `${base}/api/events${tube ? `?tube=${encodeURIComponent(tube)}` : ""}`;
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  process.once("SIGTERM", () => stop.abort());
  let said = "";
  while (!stop.signal.aborted) {
    try {
      await follow(
        url,
        token,
        (data) => {
          said = "";
          const o = JSON.parse(data) as JobOutcome;
          process.stdout.write(`${json ? data : formatOutcome(o)}\n`);
        },
        stop.signal,
      );
    } catch (e) {
      if (stop.signal.aborted) break;
      const msg = `beanrun tail: cannot follow ${base}: ${(e as Error).message}; retrying`;
      if (msg !== said) console.error(msg);
      said = msg;
      if (/^(401|403|421) /.test((e as Error).message)) return 1;
    }
    if (!stop.signal.aborted) await new Promise((r) => setTimeout(r, RETRY_MS));
  }
  return 0;
}
