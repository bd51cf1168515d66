/**
 * `beanrun run`: the embedded server (serve's flags) plus supervised worker
 * processes per job file (runtime/runner/runner.ts), and the cron schedules.
 * With --connect the workers use another beanstalkd-compatible server and
 * nothing is scheduled.
 */
import process from "node:process";
import { parseAddress } from "../runner/enqueue.ts";
import { RunnerEvents } from "../runner/events.ts";
import { logEvents } from "../runner/log-events.ts";
import { createLogger, parseLogFormat, parseLogLevel, type LogFormat, type LogLevel } from "../runner/log.ts";
import { RunnerStartError, startRunner } from "../runner/runner.ts";
import { announceConsole } from "./console-note.ts";
import { FlagError, parseServeFlags, SERVE_USAGE } from "./serve-flags.ts";

export const RUN_USAGE = `Use: beanrun run [OPTIONS] [SERVER OPTIONS]

Starts the server and one worker process per job file in the jobs directory.

Options:
 --jobs DIR             job modules, one per tube (default: jobs/, or the jobs
                        compiled into this executable)
 --connect HOST:PORT    use this beanstalkd-compatible server instead of
                        embedding one (no cron schedules are run)
 --only TUBE,...        serve only these tubes (each must have a job module)
 --except TUBE,...      serve every tube but these
 --idle SECONDS         a worker process with no job for this long exits
                        (default 60; a module's processes.idle overrides)
 --max-processes N      worker processes at once, all tubes together
                        (default 4 per core, at least 8)
 --no-spare             start no spare worker process (one is kept loaded so
                        a tube's cold start skips the process start)
 --watch                restart a tube's workers when its file changes
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
  only?: string[];
  except?: string[];
  idleSeconds?: number;
  maxProcesses?: number;
  spare: boolean;
  logFormat: LogFormat;
  logLevel: LogLevel;
  serverArgs: string[];
}

export function parseRunFlags(argv: readonly string[]): RunFlags {
  const f: RunFlags = { help: false, watch: false, spare: true, graceMs: 25_000, logFormat: "human", logLevel: "info", serverArgs: [] };
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
      case "--no-spare":
        f.spare = false;
        break;
      case "--only":
      case "--except": {
        const tubes = value().split(",").map((t) => t.trim()).filter(Boolean);
        if (!tubes.length) throw new FlagError(`${name} needs a list of tubes`);
        if (name === "--only") f.only = tubes;
        else f.except = tubes;
        break;
      }
      case "--idle":
      case "--max-processes": {
        const v = value();
        if (!/^[1-9]\d*$/.test(v)) throw new FlagError(`${name}: "${v}" is not a whole number >= 1`);
        if (name === "--idle") f.idleSeconds = Number(v);
        else f.maxProcesses = Number(v);
        break;
      }
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

  const events = new RunnerEvents();
  logEvents(events, createLogger({ format: flags.logFormat, level: flags.logLevel }));
  let runner;
  try {
    runner = await startRunner({
      jobs: flags.jobs,
      connect: flags.connect ? parseAddress(flags.connect) : undefined,
      server: serverOpts,
      only: flags.only,
      except: flags.except,
      watch: flags.watch,
      graceMs: flags.graceMs,
      idleSeconds: flags.idleSeconds,
      maxProcesses: flags.maxProcesses,
      spare: flags.spare,
      logFormat: flags.logFormat,
      logLevel: flags.logLevel,
      events,
    });
  } catch (e) {
    if (!(e instanceof RunnerStartError)) throw e;
    console.error(`beanrun: ${e.message}`);
    return 1;
  }
  if (runner.server) console.error(`beanrun: listening on ${runner.address}`);
  if (runner.server) announceConsole(runner.server, serverOpts.httpToken);

  // As with serve: SIGUSR1 makes the server refuse new jobs (DRAINING); the workers carry on.
  if (runner.server) process.on("SIGUSR1", () => runner.drain());

  const signal = await new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  // A second signal means now.
  const force = (): void => {
    events.emit({ type: "runner.error", msg: "second signal: exiting now" });
    process.exit(1);
  };
  process.once("SIGTERM", force);
  process.once("SIGINT", force);
  await runner.stop(signal);
  return 0;
}
