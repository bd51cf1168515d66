/**
 * `beanrun worker`: the mode `run` starts itself in, once per tube. It can
 * also be started by hand to add workers for one tube on another machine:
 *   beanrun worker --tube email --file jobs/email.ts --server host:11300
 * With --spare (run starts one ahead of need) it loads the worker code and
 * waits for the supervisor to assign it a tube: a cold start then costs the
 * job module's import, not a process start.
 *
 * Nothing here loads a node: module at start (node:path only for --file):
 * under Bun the first one costs a worker process's start about 10 ms of CPU
 * (see runner/load-job.ts).
 */

import process from "node:process";
import { isEmbedded } from "../adapters/embedded.ts";
import type { JobFile } from "../runner/discover.ts";
import { parseAddress } from "../runner/enqueue.ts";
import { createLogger, type LogFormat, type LogLevel, parseLogFormat, parseLogLevel } from "../runner/log.ts";
import { WorkerConnection } from "../runner/wire.ts";
import { ipcLink, standaloneLink } from "../runner/worker/link.ts";
import { epochMs, runWorker } from "../runner/worker/worker.ts";
import { type FlagSpec, HELP, parseFlags, UsageError, usageFailure } from "./flags.ts";

const USAGE = `Use: beanrun worker --file PATH [--tube NAME] [--server HOST:PORT] [--log-format human|json] [--log-level LEVEL]
       beanrun worker --spare ...   (started by run: waits for a tube over IPC)

Runs one tube's handlers: reserves jobs of TUBE (default: the file's name)
from the server (default $BEANRUN_SERVER, else 127.0.0.1:11300) and runs the
job module in PATH. \`beanrun run\` starts these by itself.`;

const FLAGS: readonly FlagSpec[] = [
  { name: "file", value: true },
  { name: "tube", value: true },
  { name: "display", value: true },
  { name: "server", value: true },
  { name: "log-format", value: true },
  { name: "log-level", value: true },
  { name: "spare", value: false },
  HELP,
];

export async function main(argv: string[]): Promise<number> {
  let file: string;
  let tube: string;
  let display: string;
  let server: string;
  let format: LogFormat;
  let level: LogLevel;
  let spare: boolean;
  try {
    const args = parseFlags(argv, FLAGS);
    if (args.switches.has("help")) {
      console.log(USAGE);
      return 0;
    }
    if (args.positionals.length) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const v = args.values;
    file = v.get("file") ?? "";
    tube = v.get("tube") ?? "";
    display = v.get("display") ?? "";
    server = v.get("server") ?? process.env.BEANRUN_SERVER ?? "127.0.0.1:11300";
    spare = args.switches.has("spare");
    const wrapped = <T>(fn: () => T): T => {
      try {
        return fn();
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    };
    format = wrapped(() => parseLogFormat(v.get("log-format") ?? "human"));
    level = wrapped(() => parseLogLevel(v.get("log-level") ?? "info"));
    wrapped(() => parseAddress(server));
    if (!file && !spare) throw new UsageError("--file is required");
    if (spare && !process.send) throw new UsageError("--spare is only for workers started by run");
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return usageFailure("worker", e, USAGE);
  }
  const { host, port } = parseAddress(server);
  const log = createLogger({ format, level });
  const link = process.send ? ipcLink(spare) : standaloneLink(log);
  let jobFile: JobFile;
  let loaded = epochMs();
  let preconnected: WorkerConnection | null = null;
  if (spare) {
    // What every job module imports is loaded now, and the first slot's connection opened, ahead of the assignment.
    process.on("disconnect", () => process.exit(0));
    await import("../index.ts");
    preconnected = await WorkerConnection.connect(host, port).catch(() => null);
    loaded = epochMs();
    link.send({ t: "loaded" });
    jobFile = await link.assigned;
  } else {
    const { basename, extname, relative, resolve } = process.getBuiltinModule("node:path");
    const path = isEmbedded(file) ? file : resolve(file);
    jobFile = { path, tube: tube || basename(path, extname(path)), display: display || relative(process.cwd(), path) };
  }
  const code = await runWorker({
    file: jobFile,
    host,
    port,
    log,
    link,
    preconnected,
    boot: { spare, process: performance.timeOrigin, loaded, assigned: epochMs() },
  });
  await link.flush(); // the last events (an outcome, module.failed) reach the supervisor first
  // Handlers may leave timers or sockets behind: the worker's life ends here.
  process.exit(code);
}
