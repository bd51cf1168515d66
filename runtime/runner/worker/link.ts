/**
 * The worker's line to its supervisor, as an interface so tests can fake it:
 * the IPC link when `run` started the worker, a standalone link (events go
 * to the worker's own log) when it was started by hand.
 *
 * Events leave in batches, one IPC message per event-loop turn, so a worker
 * running tens of thousands of jobs a second sends a few hundred messages.
 */

import type { JobFile } from "../discover.ts";
import { type RunnerEvent, RunnerEvents, type RunnerEventType } from "../events.ts";
import type { SupervisorMessage, WorkerMessage } from "../ipc.ts";
import type { Logger } from "../log.ts";
import { logEvents } from "../log-events.ts";

export interface WorkerInit {
  notRun: [number, number][];
  idleSeconds: number;
}

export interface SupervisorLink {
  /** A spare worker's tube, when the supervisor assigns one (never resolves standalone). */
  readonly assigned: Promise<JobFile>;
  /** The supervisor's init; standalone: at once. */
  readonly init: Promise<WorkerInit>;
  /** `fn` runs when the supervisor asks the worker to stop (at once if it already has). */
  onShutdown(fn: (graceMs: number) => void): void;
  /** `fn` gets ledger entries learnt after init (see attempts.ts). */
  onNotRun(fn: (entries: [number, number][]) => void): void;
  send(msg: Exclude<WorkerMessage, { t: "events" | "ask" }>): void;
  /**
   * How many of job `id`'s reservations were not runs, per the supervisor's ledger once no process of the
   * tube is hanging up (see attempts.ts); null standalone, or if no answer comes within a second.
   */
  ask(id: number): Promise<number | null>;
  /** Whether events of this type are wanted at all (check before building a busy one). */
  wants(type: RunnerEventType): boolean;
  emit(e: RunnerEvent): void;
  /** Sends what is pending and waits (briefly) until it has left. */
  flush(): Promise<void>;
}

/** `spare`: started ahead of need; its init comes only once a tube is assigned. */
export function ipcLink(spare = false): SupervisorLink {
  let initDone!: (i: WorkerInit) => void;
  // The supervisor sends init first (a spare's right after its assign); should it never come,
  // run with an empty ledger rather than hang.
  const init = new Promise<WorkerInit>((r) => (initDone = r));
  const fallback = (): void => void setTimeout(() => initDone({ notRun: [], idleSeconds: 0 }), 2000).unref?.();
  if (!spare) fallback();
  let onShutdown: ((graceMs: number) => void) | null = null;
  let onNotRun: (entries: [number, number][]) => void = () => {};
  let asked: number | null = null;
  let wanted: ReadonlySet<string> | null = null;
  const answers = new Map<number, ((n: number | null) => void)[]>();
  const answered = (id: number, n: number | null): void => {
    for (const r of answers.get(id) ?? []) r(n);
    answers.delete(id);
  };
  let assign!: (f: JobFile) => void;
  const assigned = new Promise<JobFile>((r) => (assign = r));
  // Listen first: the supervisor's "init" is sent as soon as we are spawned.
  process.on("message", (m: unknown) => {
    const msg = m as SupervisorMessage;
    if (msg?.t === "assign") {
      assign({ tube: msg.tube, path: msg.path, display: msg.display });
      fallback();
    } else if (msg?.t === "init") {
      wanted = msg.events ? new Set(msg.events) : null;
      initDone({ notRun: msg.notRun, idleSeconds: msg.idleSeconds ?? 0 });
    } else if (msg?.t === "interest") wanted = msg.events ? new Set(msg.events) : null;
    else if (msg?.t === "notRun") onNotRun(msg.entries);
    else if (msg?.t === "answer") answered(msg.id, msg.notRun);
    else if (msg?.t === "shutdown") {
      if (onShutdown) onShutdown(msg.graceMs);
      else asked = msg.graceMs;
    }
  });
  const send = (msg: WorkerMessage, done?: () => void): void => {
    if (process.send && process.connected) {
      try {
        if (done) process.send(msg, undefined, undefined, done);
        else process.send(msg);
        return;
      } catch {
        // Supervisor gone: "disconnect" starts our shutdown.
      }
    }
    done?.();
  };
  let pending: RunnerEvent[] = [];
  let scheduled = false;
  const flushEvents = (done?: () => void): void => {
    scheduled = false;
    if (pending.length === 0) return done?.();
    const events = pending;
    pending = [];
    send({ t: "events", events }, done);
  };
  return {
    assigned,
    init,
    onShutdown(fn) {
      onShutdown = fn;
      if (asked !== null) fn(asked);
    },
    onNotRun(fn) {
      onNotRun = fn;
    },
    send,
    ask(id) {
      return new Promise<number | null>((resolve) => {
        const waiting = answers.get(id);
        if (waiting) return void waiting.push(resolve);
        answers.set(id, [resolve]);
        send({ t: "ask", id });
        // A supervisor that never answers (a peer hanging up forever) costs a second, not the job's TTR.
        setTimeout(() => answered(id, null), 1000).unref?.();
      });
    },
    wants: (type) => wanted === null || wanted.has(type),
    emit(e) {
      pending.push(e);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flushEvents);
      }
    },
    flush: () =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 500);
        flushEvents(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}

/** No supervisor: events are written to `log`, nobody asks for a shutdown but signals. */
export function standaloneLink(log: Logger, idleSeconds = 0): SupervisorLink {
  const bus = new RunnerEvents();
  logEvents(bus, log);
  return {
    assigned: new Promise<JobFile>(() => {}),
    init: Promise.resolve({ notRun: [], idleSeconds }),
    onShutdown() {},
    onNotRun() {},
    send() {},
    ask: () => Promise.resolve(null),
    wants: (type) => bus.wants(type),
    emit: (e) => bus.emit(e),
    flush: async () => {},
  };
}
