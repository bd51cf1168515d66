/**
 * `beanrun run` as a library: the embedded server (or a --connect address),
 * the supervisor of every tube's worker processes, the backlog source that
 * wakes them, the cron schedules and --watch, all reporting on one event
 * stream (events.ts). The CLI (runtime/cli/run.ts) parses flags, subscribes
 * the logger and calls this; tests call it directly and subscribe to the
 * same stream.
 *
 * Refusals (an unknown tube in `only`, a broken module, a port in use) throw
 * RunnerStartError before anything is started, or after stopping what was.
 */
import { isEmbedded } from "../adapters/embedded.ts";
import type { HttpListener } from "../adapters/http-serve.ts";
import { platform } from "../adapters/platform.ts";
import { type SpawnedWorker, spawnSelf } from "../adapters/spawn.ts";
import { Outcomes } from "../http/outcomes.ts";
import { observeRunner } from "../http/runner-bridge.ts";
import { runnerHttp } from "../http/runner-http.ts";
import type { RunnerView } from "../http/runner-view.ts";
import { type RunningServer, type Server, type ServerOptions, startServer } from "../server/index.ts";
import { VERSION } from "../version.ts";
import type { ResolvedJob } from "./define.ts";
import { discoverJobs, EMBEDDED_JOBS, type JobFile } from "./discover.ts";
import { Producer } from "./enqueue.ts";
import { errorInfo, RunnerEvents } from "./events.ts";
import { loadJob } from "./load-job.ts";
import { startScheduler } from "./scheduler.ts";
import { type BacklogSource, pollBacklog, queueBacklog } from "./supervisor/backlog.ts";
import { Supervisor } from "./supervisor/supervisor.ts";
import { JobModuleError } from "./validate.ts";
import { type WatchTarget, watchJobs } from "./watch.ts";

export interface RunnerOptions {
  /** Job modules directory (default: jobs/, or the jobs compiled into the executable). */
  jobs?: string;
  /** Use this server instead of embedding one; nothing is scheduled. */
  connect?: { host: string; port: number };
  server?: ServerOptions;
  /** Serve only these tubes / all but these (each must name a job module). */
  only?: readonly string[];
  except?: readonly string[];
  watch?: boolean;
  graceMs?: number;
  /** Seconds without a job before a worker process exits (default 60; a module's processes.idle overrides). */
  idleSeconds?: number;
  /** Most worker processes at once, all tubes together. */
  maxProcesses?: number;
  /** Passed to each worker process (its handler log lines). */
  logFormat?: string;
  logLevel?: string;
  /** The stream to report on (default: a new one); subscribe before calling to see start-up events. */
  events?: RunnerEvents;
  /** How workers are started (default: this program again, in worker mode). */
  spawn?: (args: string[], env: Record<string, string>) => SpawnedWorker;
  /** Keep a spare worker process loaded, so a tube's cold start skips the process start (default true). */
  spare?: boolean;
  /** Tuning for tests: how long a tube at the cap waits before the longest-running process yields. */
  quantumMs?: number;
  /**
   * With `connect`: serve /metrics, /healthz and /readyz (http/runner-http.ts)
   * on host (default 127.0.0.1) and port. The embedded server serves its own
   * console instead (server.httpPort).
   */
  http?: { host?: string; port: number; token?: string; allowHosts?: readonly string[] };
}

export interface Runner {
  readonly events: RunnerEvents;
  /** The server the workers use ("host:port"). */
  readonly address: string;
  /** Where the runner's own HTTP endpoints listen (`http` with `connect`). */
  readonly http: { host: string; port: number } | null;
  readonly server: Server | null;
  readonly tubes: readonly string[];
  /** Worker processes alive or starting (of one tube, or all). */
  processes(tube?: string): number;
  /** SIGUSR1: the embedded server refuses new jobs (DRAINING); the workers carry on. */
  drain(): void;
  /** Graceful stop: workers finish within the grace period, then the server closes. */
  stop(signal?: string): Promise<void>;
}

export class RunnerStartError extends Error {
  override name = "RunnerStartError";
}

export const DEFAULT_IDLE_SECONDS = 60;

/** Applies --only / --except to the discovered jobs; an unknown tube is refused. */
export function selectJobs(jobs: readonly ResolvedJob[], only?: readonly string[], except?: readonly string[]): ResolvedJob[] {
  const known = new Set(jobs.map((j) => j.tube));
  for (const [flag, list] of [
    ["--only", only],
    ["--except", except],
  ] as const) {
    const unknown = (list ?? []).filter((t) => !known.has(t));
    if (unknown.length) {
      throw new RunnerStartError(
        `${flag}: no job module for ${unknown.map((t) => `"${t}"`).join(", ")} (tubes: ${[...known].join(", ") || "none"})`,
      );
    }
  }
  return jobs.filter((j) => (!only?.length || only.includes(j.tube)) && !except?.includes(j.tube));
}

export async function startRunner(opts: RunnerOptions): Promise<Runner> {
  const events = opts.events ?? new RunnerEvents();
  const graceMs = opts.graceMs ?? 25_000;
  if (opts.http && !opts.connect) throw new RunnerStartError("http: only with connect (the embedded server serves its own console)");
  const { dir, jobs } = await discover(opts);
  if (jobs.length === 0) events.emit({ type: "runner.error", msg: `no job modules to run in ${dir}` });
  const server = opts.connect ? null : await embeddedServer(opts.server ?? {});
  const { host, port } = opts.connect ?? server!;
  const address = `${host.includes(":") ? `[${host}]` : host}:${port}`;

  const spawn = opts.spawn ?? spawnSelf;
  const env = { BEANRUN_SERVER: address, BEANRUN_GRACE_MS: String(graceMs) };
  let backlog: BacklogSource | null = null;
  const supervisor = new Supervisor({
    events,
    graceMs,
    spawn: (f) => spawn(workerArgs(f, address, opts), env),
    spawnSpare: opts.spare === false ? undefined : () => spawn(spareArgs(address, opts), env),
    maxSpares: Math.max(2, cores()),
    backlogOf: (tube) => backlog?.readyIn(tube) ?? 0,
    serverGone: () => backlog?.suspect(),
    maxProcesses: opts.maxProcesses ?? defaultMaxProcesses(),
    idleSeconds: opts.idleSeconds ?? DEFAULT_IDLE_SECONDS,
    quantumMs: opts.quantumMs,
  });
  const hint = (tube: string, ready: number): void => supervisor.backlog(tube, ready);
  // The queue's own events when it lives in this process; otherwise (--connect, --store) ask the server.
  backlog =
    server && "queue" in server
      ? queueBacklog((server as RunningServer).queue, hint)
      : pollBacklog(host, port, () => jobs.map((j) => j.tube), hint, events, {
          idle: (tube) => supervisor.processes(tube) === 0,
          // Behind --store every stats counts rows: no waking on the server's counters there.
          wake: !server,
        });
  // The console (outcomes, workers, schedules) and failure records follow the event stream.
  const outcomes = opts.http ? new Outcomes() : undefined;
  const observer = observeRunner(events, server, jobs, opts.connect, outcomes);
  let http: HttpListener | null = null;
  if (opts.http) {
    try {
      http = serveRunnerHttp(opts.http, outcomes!, observer.view, () => backlog?.connected() ?? false);
    } catch (e) {
      backlog.stop();
      observer.stop();
      throw new RunnerStartError(`cannot serve --http: ${(e as Error).message}`, { cause: e });
    }
  }
  for (const j of jobs) supervisor.add(fileOf(j), j);

  // Schedules run only where the server is embedded, so extra --connect runners never duplicate ticks.
  const schedules = server ? await startSchedules(jobs, address, events) : null;
  const watcher = opts.watch && !isEmbedded(dir) ? watchJobs(dir, watchTarget(supervisor, opts, events), events) : null;

  events.emit({ type: "runner.ready", server: address, tubes: jobs.map((j) => j.tube) });
  let stopped: Promise<void> | null = null;
  return {
    events,
    address,
    server,
    http: http && { host: opts.http!.host ?? DEFAULT_HTTP_HOST, port: http.port },
    tubes: jobs.map((j) => j.tube),
    processes: (tube) => supervisor.processes(tube),
    drain: () => {
      server?.drain();
      events.emit({ type: "runner.draining" });
    },
    stop: (signal = "stop") =>
      (stopped ??= (async () => {
        events.emit({ type: "runner.stopping", signal, graceMs });
        watcher?.close();
        schedules?.stop();
        await supervisor.shutdown();
        backlog?.stop();
        await http?.stop();
        observer.stop();
        await server?.close();
        events.emit({ type: "runner.stopped" });
      })()),
  };
}

const DEFAULT_HTTP_HOST = "127.0.0.1";

function serveRunnerHttp(
  o: NonNullable<RunnerOptions["http"]>,
  outcomes: Outcomes,
  view: RunnerView,
  connected: () => boolean,
): HttpListener {
  const host = o.host ?? DEFAULT_HTTP_HOST;
  const fetch = runnerHttp({
    bindHost: host,
    allowedHosts: o.allowHosts,
    token: o.token,
    build: { version: VERSION, runtime: platform().name },
    outcomes,
    runner: view,
    connected,
  });
  return platform().serveHttp(host, o.port, fetch);
}

/** Every module is loaded and checked before anything starts; --only/--except select among them. */
async function discover(opts: RunnerOptions): Promise<{ dir: string; jobs: ResolvedJob[] }> {
  try {
    const { dir, jobs } = await discoverJobs(opts.jobs);
    return { dir, jobs: selectJobs(jobs, opts.only, opts.except) };
  } catch (e) {
    if (e instanceof JobModuleError) throw new RunnerStartError(e.message);
    throw e;
  }
}

async function embeddedServer(options: ServerOptions): Promise<Server> {
  try {
    return await startServer(options);
  } catch (e) {
    throw new RunnerStartError(`cannot start the server: ${(e as Error).message}`, { cause: e });
  }
}

function fileOf(j: ResolvedJob): JobFile {
  return { tube: j.tube, path: j.file, display: isEmbedded(j.file) ? `${EMBEDDED_JOBS}/${j.tube}` : j.file };
}

function spareArgs(address: string, opts: RunnerOptions): string[] {
  const a = ["worker", "--spare", "--server", address];
  if (opts.logFormat) a.push("--log-format", opts.logFormat);
  if (opts.logLevel) a.push("--log-level", opts.logLevel);
  return a;
}

function workerArgs(f: JobFile, address: string, opts: RunnerOptions): string[] {
  const a = ["worker", "--tube", f.tube, "--file", f.path, "--display", f.display, "--server", address];
  if (opts.logFormat) a.push("--log-format", opts.logFormat);
  if (opts.logLevel) a.push("--log-level", opts.logLevel);
  return a;
}

async function startSchedules(jobs: readonly ResolvedJob[], address: string, events: RunnerEvents): Promise<{ stop(): void } | null> {
  if (!jobs.some((j) => j.schedules.length)) return null;
  const producer = await Producer.connect(address);
  const scheduler = startScheduler(jobs, (tube, body, o) => producer.put(tube, body, o), events);
  for (const e of scheduler.entries)
    events.emit({ type: "schedule.registered", tube: e.tube, cron: e.cron, next: e.next?.toISOString() ?? null });
  return {
    stop: () => {
      scheduler.stop();
      producer.close();
    },
  };
}

/** --watch: a changed file restarts its tube's workers; a new one (if selected) is loaded and added. */
function watchTarget(supervisor: Supervisor, opts: RunnerOptions, events: RunnerEvents): WatchTarget {
  const selected = (tube: string): boolean => (!opts.only?.length || opts.only.includes(tube)) && !opts.except?.includes(tube);
  return {
    has: (t) => supervisor.has(t),
    restart: (t) => supervisor.restart(t),
    remove: (t) => supervisor.remove(t),
    add: (f) => {
      if (!selected(f.tube)) return;
      loadJob(f).then(
        (j) => supervisor.add(f, j),
        (e: unknown) => events.emit({ type: "module.failed", tube: f.tube, file: f.display, error: errorInfo(e) }),
      );
    },
  };
}

const cores = (): number => (globalThis.navigator as { hardwareConcurrency?: number } | undefined)?.hardwareConcurrency ?? 2;

/** The default cap: four processes per core, at least eight (most handlers wait on I/O). */
function defaultMaxProcesses(): number {
  return Math.max(8, 4 * cores());
}
