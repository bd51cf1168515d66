/**
 * `beanrun run`: the embedded server (serve's flags) plus supervised worker
 * processes per job file (runtime/runner/runner.ts), and the cron schedules.
 * With --connect the workers use another beanstalkd-compatible server and
 * nothing is scheduled.
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import process from "node:process";
import { EMBEDDED_JOBS } from "../runner/discover.ts";
import { parseAddress } from "../runner/enqueue.ts";
import { RunnerEvents } from "../runner/events.ts";
import { createLogger, type LogFormat, type LogLevel, parseLogFormat, parseLogLevel } from "../runner/log.ts";
import { logEvents } from "../runner/log-events.ts";
import { type Runner, type RunnerOptions, RunnerStartError, startRunner } from "../runner/runner.ts";
import type { ServerOptions } from "../server/options.ts";
import { VERSION } from "../version.ts";
import { announceConsole } from "./console-note.ts";
import { type FlagSpec, parseFlags, parseOrUsage, UsageError } from "./flags.ts";
import { listenFailure } from "./listen-error.ts";
import { HTTP_FLAGS, hasServeFlags, SERVE_FLAGS, SERVE_USAGE, type ServeFlags, serveFlagsFrom } from "./serve-flags.ts";
import { waitForStop } from "./stop-signal.ts";

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

With --connect, serve's --http, --http-token and --http-allow-host serve this
runner's own /metrics, /healthz (liveness) and /readyz (readiness: connected
to the server, every module loaded) on 127.0.0.1 unless ADDR is given.

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
  /** The embedded server's settings (serve's flags). */
  server: ServeFlags;
  /** True when any of serve's flags was given. */
  serverFlagsGiven: boolean;
}

/** run's own flags; serve's (SERVE_FLAGS) are accepted as well, for the embedded server. */
export const RUN_FLAGS: readonly FlagSpec[] = [
  { name: "jobs", value: true },
  { name: "connect", value: true },
  { name: "watch", value: false },
  { name: "no-spare", value: false },
  { name: "only", value: true },
  { name: "except", value: true },
  { name: "idle", value: true },
  { name: "max-processes", value: true },
  { name: "grace", value: true },
  { name: "log-format", value: true },
  { name: "log-level", value: true },
];

export function parseRunFlags(argv: readonly string[]): RunFlags {
  const args = parseFlags(argv, [...RUN_FLAGS, ...SERVE_FLAGS]);
  if (args.positionals.length) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
  const server = serveFlagsFrom(args);
  const v = args.values;
  const f: RunFlags = {
    help: server.action === "help",
    jobs: v.get("jobs"),
    connect: v.get("connect"),
    watch: args.switches.has("watch"),
    spare: !args.switches.has("no-spare"),
    graceMs: 25_000,
    only: tubeList("--only", v.get("only")),
    except: tubeList("--except", v.get("except")),
    idleSeconds: wholeNumber("--idle", v.get("idle")),
    maxProcesses: wholeNumber("--max-processes", v.get("max-processes")),
    logFormat: wrap(() => parseLogFormat(v.get("log-format") ?? "human")),
    logLevel: wrap(() => parseLogLevel(v.get("log-level") ?? "info")),
    server,
    serverFlagsGiven: hasServeFlags(args, v.get("connect") === undefined ? undefined : HTTP_FLAGS),
  };
  const grace = v.get("grace");
  if (grace !== undefined) {
    const n = Number(grace);
    if (!/^\d+(\.\d+)?$/.test(grace) || !Number.isFinite(n)) throw new UsageError(`--grace: "${grace}" is not a number of seconds`);
    f.graceMs = Math.round(n * 1000);
  }
  if (server.user) throw new UsageError("-u is not supported by run: start it as the user the workers should run as");
  if (f.connect && f.serverFlagsGiven)
    throw new UsageError(
      "server flags make no sense with --connect (the server is elsewhere; --http and its options are the runner's own)",
    );
  if (f.connect) wrap(() => parseAddress(f.connect!));
  return f;
}

/** --http and its options, for a runner without a server of its own. */
function runnerHttp(o: ServerOptions): RunnerOptions["http"] {
  if (o.httpPort === undefined) return undefined;
  return { host: o.httpHost, port: o.httpPort, token: o.httpToken, allowHosts: o.httpAllowHosts };
}

function tubeList(flag: string, v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const tubes = v
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  if (!tubes.length) throw new UsageError(`${flag} needs a list of tubes`);
  return tubes;
}

function wholeNumber(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(v)) throw new UsageError(`${flag}: "${v}" is not a whole number >= 1`);
  return Number(v);
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

type Say = (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

/**
 * The runner's event stream and logger, and `say` for run's own messages.
 * With --log-format json every line is JSON: the start-up messages and the
 * embedded server's lines (through `serverOpts.log`) go through the logger too.
 */
function runLogging(flags: RunFlags, serverOpts: ServerOptions): { events: RunnerEvents; say: Say } {
  const events = new RunnerEvents();
  const logger = createLogger({ format: flags.logFormat, level: flags.logLevel });
  logEvents(events, logger);
  const json = flags.logFormat === "json";
  const say: Say = (level, msg, fields = {}) => {
    if (json) logger[level](msg, fields);
    else console.error(`beanrun: ${msg}`);
  };
  if (json) {
    serverOpts.log = (line) => {
      const msg = line.replace(/^beanrun: /, "");
      // -V's connection lines are routine; anything else the server says (the log's warnings) is not.
      if (/^(accept|close) \d+$/.test(msg)) logger.info(msg, { event: "connection" });
      else logger.warn(msg, { event: "server" });
    };
  }
  return { events, say };
}

/** False (and says why) when the jobs directory to read is missing; compiled-in jobs need none. */
function jobsDirPresent(flags: RunFlags, say: Say): boolean {
  if (flags.jobs === undefined && EMBEDDED_JOBS !== null) return true;
  const dir = resolve(flags.jobs ?? "jobs");
  if (existsSync(dir) && statSync(dir).isDirectory()) return true;
  say(
    "error",
    `no jobs directory at ${dir}: put job modules in ${flags.jobs ?? "jobs"}/<tube>.ts, or pass --jobs DIR (\`npx beanrun init\` creates a project)`,
    {
      event: "no-jobs-dir",
    },
  );
  return false;
}

/** The runner started with run's flags, or null once a start failure (a server that cannot listen: address, reason, hint) is said. */
async function startOrExplain(flags: RunFlags, serverOpts: ServerOptions, events: RunnerEvents, say: Say): Promise<Runner | null> {
  try {
    return await startRunner({
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
      http: flags.connect ? runnerHttp(serverOpts) : undefined,
      logFormat: flags.logFormat,
      logLevel: flags.logLevel,
      events,
    });
  } catch (e) {
    if (!(e instanceof RunnerStartError)) throw e;
    const cause = (e as { cause?: { syscall?: unknown } }).cause;
    const listen = cause?.syscall === "listen" || cause?.syscall === "bind";
    say("error", listen ? listenFailure(cause, serverOpts.host ?? "127.0.0.1", serverOpts.port ?? 11300) : e.message, {
      event: "cannot-start",
    });
    return null;
  }
}

/** Where the runner's probes, the embedded server and its console are. */
function announce(runner: Runner, serverOpts: ServerOptions, say: Say): void {
  if (runner.http) {
    const { host, port } = runner.http;
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
    say("info", `metrics and probes on ${url}/metrics, /healthz and /readyz`, { event: "http", url });
  }
  if (runner.server) {
    say("info", `listening on ${runner.address}`, { event: "listening", address: runner.address });
    announceConsole(runner.server, serverOpts.httpToken, (line) => say("info", line.replace(/^beanrun: /, ""), { event: "console" }));
  }
}

export async function main(argv: string[]): Promise<number> {
  const flags = parseOrUsage("run", RUN_USAGE, parseRunFlags, argv);
  if (typeof flags === "number") return flags;
  const serverOpts = flags.server.options;
  if (flags.help) {
    console.log(RUN_USAGE);
    return 0;
  }
  if (flags.server.action === "version") {
    console.log(`beanrun ${VERSION}`);
    return 0;
  }

  const { events, say } = runLogging(flags, serverOpts);
  if (!jobsDirPresent(flags, say)) return 2;
  const runner = await startOrExplain(flags, serverOpts, events, say);
  if (!runner) return 1;
  announce(runner, serverOpts, say);

  // As with serve: SIGUSR1 makes the server refuse new jobs (DRAINING); the workers carry on.
  if (runner.server) process.on("SIGUSR1", () => runner.drain());

  // A second signal (not the same one delivered twice) means now.
  const signal = await waitForStop(() => {
    events.emit({ type: "runner.error", msg: "second signal: exiting now" });
    process.exit(1);
  });
  await runner.stop(signal);
  return 0;
}
