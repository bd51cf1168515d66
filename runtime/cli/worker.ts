/**
 * `beanrun worker`: the mode `run` starts itself in, once per tube. It can
 * also be started by hand to add workers for one tube on another machine:
 *   beanrun worker --tube email --file jobs/email.ts --server host:11300
 * With --spare (run starts one ahead of need) it loads the worker code and
 * waits for the supervisor to assign it a tube: a cold start then costs the
 * job module's import, not a process start.
 */
import process from "node:process";
import { basename, extname, relative, resolve } from "node:path";
import type { JobFile } from "../runner/discover.ts";
import { parseAddress } from "../runner/enqueue.ts";
import { createLogger, parseLogFormat, parseLogLevel, type LogFormat, type LogLevel } from "../runner/log.ts";
import { ipcLink, standaloneLink } from "../runner/worker/link.ts";
import { runWorker } from "../runner/worker/worker.ts";

const USAGE = `Use: beanrun worker --file PATH [--tube NAME] [--server HOST:PORT] [--log-format human|json] [--log-level LEVEL]
     beanrun worker --spare ...   (started by run: waits for a tube over IPC)`;

export async function main(argv: string[]): Promise<number> {
  let file = "";
  let tube = "";
  let display = "";
  let server = process.env.BEANRUN_SERVER ?? "127.0.0.1:11300";
  let format: LogFormat = "human";
  let level: LogLevel = "info";
  let spare = false;
  try {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      const v = (): string => {
        const x = argv[++i];
        if (x === undefined) throw new Error(`${a} requires a value`);
        return x;
      };
      if (a === "--file") file = v();
      else if (a === "--tube") tube = v();
      else if (a === "--display") display = v();
      else if (a === "--server") server = v();
      else if (a === "--log-format") format = parseLogFormat(v());
      else if (a === "--log-level") level = parseLogLevel(v());
      else if (a === "--spare") spare = true;
      else throw new Error(`unknown argument "${a}"`);
    }
    if (!file && !spare) throw new Error("--file is required");
    if (spare && !process.send) throw new Error("--spare is only for workers started by run");
  } catch (e) {
    console.error(`beanrun worker: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { host, port } = parseAddress(server);
  const log = createLogger({ format, level });
  const link = process.send ? ipcLink(spare) : standaloneLink(log);
  let jobFile: JobFile;
  if (spare) {
    // What every job module imports is loaded now, ahead of the assignment.
    process.on("disconnect", () => process.exit(0));
    await import("../index.ts");
    jobFile = await link.assigned;
  } else {
    const path = file.startsWith("/$bunfs/") ? file : resolve(file);
    jobFile = { path, tube: tube || basename(path, extname(path)), display: display || relative(process.cwd(), path) };
  }
  const code = await runWorker({
    file: jobFile,
    host,
    port,
    log,
    link,
  });
  await link.flush(); // the last events (an outcome, module.failed) reach the supervisor first
  // Handlers may leave timers or sockets behind: the worker's life ends here.
  process.exit(code);
}
