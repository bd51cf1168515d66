/**
 * A running beanrun server: the queue, the protocol and a transport, wired so
 * that replies leave once per event and timers flush what they produce.
 */

import type { HttpListener } from "../adapters/http-serve.ts";
import { platform } from "../adapters/platform.ts";
import type { Listen, TransportSocket } from "../adapters/transport.ts";
import { FailureStore } from "../failures/store.ts";
import { type Console, createConsole } from "../http/handler.ts";
import { memorySource } from "../http/source.ts";
import { openWal } from "../persistence/index.ts";
import { Connection } from "../protocol/connection.ts";
import type { ProtocolContext, Scheduled } from "../protocol/context.ts";
import { Op } from "../protocol/ops.ts";
import { releaseIdleOutput } from "../protocol/output.ts";
import { NONE } from "../queue/jobs.ts";
import type { Journal } from "../queue/journal.ts";
import { type Clock, Queue, systemClock } from "../queue/queue.ts";
import { VERSION } from "../version.ts";
import { hostInfo } from "./host.ts";
import { type IdleRelease, releaseWhenIdle } from "./idle.ts";
import type { ServerOptions } from "./options.ts";
import { restoreFromLog } from "./restore.ts";

export type { ServerOptions } from "./options.ts";

export const DEFAULT_PORT = 11300;
export const DEFAULT_HOST = "127.0.0.1";
export const MAX_JOB_SIZE_LIMIT = 1073741824;

/** What every server offers, whatever holds its jobs. */
export interface Server {
  readonly host: string;
  readonly port: number;
  /** Port of the HTTP endpoints, when enabled. */
  readonly httpPort?: number;
  /** Address the HTTP endpoints are bound to, when enabled. */
  readonly httpHost?: string;
  /** The console behind the HTTP endpoints (the runner feeds it outcomes), when enabled. */
  readonly console?: Console;
  /** Stop accepting new jobs (DRAINING), as beanstalkd does on SIGUSR1. */
  drain(): void;
  close(): Promise<void>;
}

/** A server whose jobs live in this process (in memory, with or without -b). */
export interface RunningServer extends Server {
  readonly queue: Queue;
  /** The last failure record of each live job (set with the `note` extension command). */
  readonly failures: FailureStore;
}

export interface StartOptions extends ServerOptions {
  /** Transport to use; defaults to the platform's (Bun.listen under Bun, node:net elsewhere). */
  listen?: Listen;
  /** Persistence; defaults to none. */
  journal?: Journal;
}

/** -V: connections as beanstalkd logs them ("accept N", "close N"); only this path pays for it. */
function verboseOpen(ctx: ProtocolContext, log = (line: string): void => console.error(line)): (sock: TransportSocket) => Connection {
  let seq = 0;
  return (sock) => {
    const n = ++seq;
    log(`beanrun: accept ${n}`);
    const c = new Connection(ctx, sock);
    const onClose = c.onClose.bind(c);
    c.onClose = () => {
      log(`beanrun: close ${n}`);
      onClose();
    };
    return c;
  };
}

/**
 * Starts a server. With `store` (postgres://...) it is a front end of a queue
 * in PostgreSQL and has no in-process queue; otherwise the queue is here.
 */
export function startServer(opts?: StartOptions & { store?: undefined }): Promise<RunningServer>;
export function startServer(opts: StartOptions): Promise<Server>;
export async function startServer(opts: StartOptions = {}): Promise<Server> {
  if (opts.store !== undefined) {
    const { startPostgresServer } = await import("../store/postgres/server.ts");
    return startPostgresServer(opts.store, opts, { host: DEFAULT_HOST, port: DEFAULT_PORT });
  }
  return startLocalServer(opts);
}

/**
 * Replies produced by one event (a read, a timer) leave together, once:
 * connections mark themselves runnable or dirty, and `settle` runs after each
 * event, as the transport's end-of-read hook and after every timer of `clock`.
 */
function eventSettler(): {
  settle: () => void;
  clock: Clock;
  runnable: Scheduled[];
  dirty: Scheduled[];
  whenQuiet: (release: () => void) => () => void;
} {
  const runnable: Scheduled[] = [];
  const dirty: Scheduled[] = [];
  let idle: IdleRelease | undefined;
  const settle = (): void => {
    idle?.busy();
    while (runnable.length || dirty.length) {
      while (runnable.length) runnable.shift()!.resume();
      for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
      dirty.length = 0;
    }
  };
  const clock: Clock = {
    now: systemClock.now,
    setTimer: (fn, ms) =>
      setTimeout(() => {
        fn();
        settle();
      }, ms),
    clearTimer: systemClock.clearTimer,
  };
  // Memory kept for reuse goes back once no event came for a while (server/idle.ts); returns what stops that.
  const whenQuiet = (release: () => void): (() => void) => {
    idle = releaseWhenIdle(release);
    return idle.stop;
  };
  return { settle, clock, runnable, dirty, whenQuiet };
}

/** What the arena, the reply buffers and the log keep for reuse, given back while the server is quiet. */
function releaseKept(queue: Queue, journal: Journal | undefined): void {
  queue.store.bodies.releaseIdle();
  journal?.releaseIdle?.();
  releaseIdleOutput();
}

/** The queue and its failure records; with -b, the log is read back into the queue before the server listens. */
async function openQueue(opts: StartOptions, clock: Clock): Promise<{ queue: Queue; journal?: Journal; failures: FailureStore }> {
  const opened = opts.journal === undefined && opts.walDir !== undefined ? openWal({ ...opts, walDir: opts.walDir }) : undefined;
  const journal = opts.journal ?? opened?.wal;
  const queue = new Queue({ maxJobSize: opts.maxJobSize ?? 65535, clock, journal });
  if (opened) {
    try {
      restoreFromLog(queue, opened.wal, opened.recovery);
    } catch (e) {
      await opened.wal.close();
      throw e;
    }
  }
  // Failure records live beside the jobs (and, with -b, in failures.log next to the log).
  const failures = new FailureStore((id) => queue.find(id) !== NONE);
  if (opened && opts.walDir !== undefined) failures.openFile(opts.walDir, opts.log);
  return { queue, journal, failures };
}

/** The console and /metrics on --http-port; it binds to loopback unless given an address of its own: -l does not carry over. */
function startConsole(
  opts: StartOptions & { httpPort: number },
  ctx: ProtocolContext,
  failures: FailureStore,
  server: { host: string; port: number },
): { http: HttpListener; console: Console; host: string } {
  const host = opts.httpHost ?? DEFAULT_HOST;
  const httpConsole = createConsole({
    source: memorySource(ctx.queue, ctx.ops, ctx.compat),
    build: { version: VERSION, protocol: ctx.compat, runtime: platform().name },
    server,
    bindHost: host,
    allowedHosts: opts.httpAllowHosts,
    token: opts.httpToken,
    failures: (id) => failures.get(id),
  });
  return { http: platform().serveHttp(host, opts.httpPort, httpConsole.fetch), console: httpConsole, host };
}

async function startLocalServer(opts: StartOptions): Promise<RunningServer> {
  const compat = opts.compat ?? "1.13";
  const { settle, clock, runnable, dirty, whenQuiet } = eventSettler();
  const { queue, journal, failures } = await openQueue(opts, clock);
  const ctx: ProtocolContext = {
    queue,
    ops: new Float64Array(Op.Count),
    host: hostInfo(compat),
    compat,
    log: opts.log ?? ((line) => console.error(line)),
    failures,
    markDirty: (c) => void dirty.push(c),
    markRunnable: (c) => void runnable.push(c),
  };

  const listen = opts.listen ?? platform().listen;
  let listener;
  try {
    listener = await listen(
      opts.host ?? DEFAULT_HOST,
      opts.port ?? DEFAULT_PORT,
      opts.verbose ? verboseOpen(ctx, opts.log) : (sock) => new Connection(ctx, sock),
      settle,
      ctx.log,
    );
  } catch (e) {
    queue.stop();
    await journal?.close?.();
    throw e;
  }

  let web: ReturnType<typeof startConsole> | undefined;
  if (opts.httpPort !== undefined) {
    try {
      web = startConsole({ ...opts, httpPort: opts.httpPort }, ctx, failures, { host: listener.host, port: listener.port });
    } catch (e) {
      await listener.stop();
      queue.stop();
      await journal?.close?.();
      throw e;
    }
  }

  const stopRelease = whenQuiet(() => releaseKept(queue, journal));
  return {
    host: listener.host,
    port: listener.port,
    httpPort: web?.http.port,
    httpHost: web?.host,
    console: web?.console,
    failures,
    queue,
    drain: () => {
      queue.drain();
    },
    close: async () => {
      stopRelease();
      await listener.stop();
      await web?.http.stop();
      web?.console.close();
      queue.stop();
      failures.close();
      await journal?.close?.();
    },
  };
}
