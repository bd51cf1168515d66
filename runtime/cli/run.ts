/**
 * `beanrun run`: the embedded server (serve's flags) plus one supervised
 * worker process per job file, and the cron schedules. With --connect the
 * workers use another beanstalkd-compatible server and nothing is scheduled.
 */
import process from "node:process";
import { spawnSelf } from "../adapters/spawn.ts";
import { discoverJobs, EMBEDDED_JOBS, type JobFile } from "../runner/discover.ts";
import { Producer, parseAddress } from "../runner/enqueue.ts";
import { createLogger, parseLogFormat, parseLogLevel, type LogFormat, type LogLevel } from "../runner/log.ts";
import { startScheduler, type Scheduler } from "../runner/scheduler.ts";
import { Supervisor } from "../runner/supervisor.ts";
import { JobModuleError } from "../runner/validate.ts";
import { watchJobs } from "../runner/watch.ts";
import { startServer, type Server } from "../server/index.ts";
import { announceConsole } from "./console-note.ts";
import { FlagError, parseServeFlags, SERVE_USAGE } from "./serve-flags.ts";

export const RUN_USAGE = `Use: beanrun run [OPTIONS] [SERVER OPTIONS]

Starts the server and one worker process per job file in the jobs directory.

Options:
 --jobs DIR             job modules, one per tube (default: jobs/, or the jobs
                        compiled into this executable)
 --connect HOST:PORT    use this beanstalkd-compatible server instead of
                        embedding one (no cron schedules are run)
 --watch                restart a tube's worker when its file changes
 --grace SECONDS        time running handlers get on SIGTERM/SIGINT (default 25)
 --log-format human|json
 --log-level debug|info|warn|error (default info)
 -h, --help

Server options (without --connect) are serve's:
${SERVE_USAGE.split("\n").slice(3).join("\n")}`;

export interface RunFlags {
  help: boolean;
  jobs?: string;
  connect?: string;
  watch: boolean;
  graceMs: number;
  logFormat: LogFormat;
  logLevel: LogLevel;
  serverArgs: string[];
}

export function parseRunFlags(argv: readonly string[]): RunFlags {
  const f: RunFlags = { help: false, watch: false, graceMs: 25_000, logFormat: "human", logLevel: "info", serverArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (arg.startsWith("--") && eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new FlagError(`${name} requires a value`);
      return v;
    };
    switch (name) {
      case "-h":
      case "--help":
        f.help = true;
        break;
      case "--jobs":
        f.jobs = value();
        break;
      case "--connect":
        f.connect = value();
        break;
      case "--watch":
        f.watch = true;
        break;
      case "--grace": {
        const v = value();
        const n = Number(v);
        if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n)) throw new FlagError(`--grace: "${v}" is not a number of seconds`);
        f.graceMs = Math.round(n * 1000);
        break;
      }
      case "--log-format":
        f.logFormat = wrap(() => parseLogFormat(value()));
        break;
      case "--log-level":
        f.logLevel = wrap(() => parseLogLevel(value()));
        break;
      default:
        f.serverArgs.push(arg);
    }
  }
  return f;
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new FlagError((e as Error).message);
  }
}

export async function main(argv: string[]): Promise<number> {
  let flags: RunFlags;
  let serverOpts;
  try {
    flags = parseRunFlags(argv);
    const sf = parseServeFlags(flags.serverArgs);
    if (sf.action === "help") flags.help = true;
    if (sf.user) throw new FlagError("-u is not supported by run: start it as the user the workers should run as");
    if (flags.connect && flags.serverArgs.length) throw new FlagError(`server options (${flags.serverArgs.join(" ")}) make no sense with --connect`);
    if (flags.connect) parseAddress(flags.connect);
    serverOpts = sf.options;
  } catch (e) {
    if (!(e instanceof FlagError) && !(e instanceof Error && /expected HOST:PORT|port out of range/.test(e.message))) throw e;
    console.error(`beanrun run: ${(e as Error).message}\n\n${RUN_USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(RUN_USAGE);
    return 0;
  }

  const log = createLogger({ format: flags.logFormat, level: flags.logLevel });

  // Every module is loaded and checked before anything starts.
  let discovered;
  try {
    discovered = await discoverJobs(flags.jobs);
  } catch (e) {
    if (!(e instanceof JobModuleError)) throw e;
    console.error(`beanrun: ${e.message}`);
    return 1;
  }
  const { dir, jobs } = discovered;
  if (jobs.length === 0) log.warn(`no job modules in ${dir}`, { event: "no-jobs" });

  let server: Server | null = null;
  let addr: { host: string; port: number };
  if (flags.connect) {
    addr = parseAddress(flags.connect);
  } else {
    try {
      server = await startServer(serverOpts);
    } catch (e) {
      console.error(`beanrun: cannot start the server: ${(e as Error).message}`);
      return 1;
    }
    addr = { host: server.host, port: server.port };
    console.error(`beanrun: listening on ${server.host}:${server.port}`);
    announceConsole(server, serverOpts.httpToken);
  }
  const serverAddr = `${addr.host.includes(":") ? `[${addr.host}]` : addr.host}:${addr.port}`;

  const workerArgs = (f: JobFile): string[] => [
    "worker",
    "--tube", f.tube,
    "--file", f.path,
    "--display", f.display,
    "--server", serverAddr,
    "--log-format", flags.logFormat,
    "--log-level", flags.logLevel,
  ];
  const supervisor = new Supervisor({
    log,
    graceMs: flags.graceMs,
    spawn: (f) => spawnSelf(workerArgs(f), { BEANRUN_SERVER: serverAddr, BEANRUN_GRACE_MS: String(flags.graceMs) }),
    onAllReady: () =>
      log.info(`running ${jobs.length} tube${jobs.length === 1 ? "" : "s"} against ${serverAddr}`, {
        event: "ready",
        tubes: jobs.map((j) => j.tube).join(","),
      }),
  });
  for (const j of jobs) {
    supervisor.add({ tube: j.tube, path: j.file, display: j.file.startsWith("/$bunfs/") ? `${EMBEDDED_JOBS}/${j.tube}` : j.file });
  }

  let scheduler: Scheduler | null = null;
  let producer: Producer | null = null;
  if (server && jobs.some((j) => j.schedules.length)) {
    producer = await Producer.connect(serverAddr);
    const p = producer;
    scheduler = startScheduler(jobs, (tube, body, o) => p.put(tube, body, o), log);
    for (const e of scheduler.entries) {
      log.info(`scheduled "${e.cron}"`, { tube: e.tube, event: "schedule", next: e.next?.toISOString() });
    }
  }

  // As with serve: SIGUSR1 makes the server refuse new jobs (DRAINING); the workers carry on.
  if (server) {
    const s = server;
    process.on("SIGUSR1", () => {
      s.drain();
      log.warn("draining: new jobs are refused", { event: "draining" });
    });
  }

  const watcher = flags.watch && !dir.startsWith("/$bunfs/") ? watchJobs(dir, supervisor, log) : null;

  const signal = await new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  log.info(`${signal}: stopping (grace ${flags.graceMs / 1000} s)`, { event: "shutdown" });
  // A second signal means now.
  const force = (): void => {
    log.warn("second signal: exiting now", { event: "shutdown-forced" });
    process.exit(1);
  };
  process.once("SIGTERM", force);
  process.once("SIGINT", force);

  watcher?.close();
  scheduler?.stop();
  await supervisor.shutdown();
  producer?.close();
  await server?.close();
  log.info("stopped", { event: "stopped" });
  return 0;
}
