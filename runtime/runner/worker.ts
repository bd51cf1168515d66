/**
 * One tube's worker process: loads the tube's module, opens one connection
 * per concurrency slot, and runs reserve -> stats-job -> handler ->
 * delete/release/bury. The supervisor (if any) hears about each run over IPC
 * so it can enforce the TTR even when a handler never yields.
 *
 * Batches: while handlers finish quickly and the tube has jobs waiting, a
 * slot asks for several jobs per round trip (`reserve` followed by
 * `reserve-with-timeout 0`s), reads their stats in one more round trip, runs
 * them one after another, and sends their outcomes together with the next
 * batch's reserves: a few system calls per batch instead of a few per job.
 * A slot only holds jobs it is about to run: the batch size adapts so that a
 * batch takes about BATCH_MS, drops to one job when handlers are slow, and a
 * held job that waited too long is touched before it starts.
 */
import { BeanstalkError } from "../client/index.ts";
import { retryDelay, type JobContext, type ResolvedJob } from "./define.ts";
import { loadJob, type JobFile } from "./discover.ts";
import type { SupervisorMessage, WorkerMessage } from "./ipc.ts";
import type { Logger } from "./log.ts";
import { validatePayload } from "./standard-schema.ts";
import { type JobInfo, type Reserved, WorkerConnection } from "./wire.ts";

export interface WorkerOptions {
  file: JobFile;
  host: string;
  port: number;
  log: Logger;
}

const decoder = new TextDecoder();

function tell(msg: WorkerMessage): void {
  if (process.send && process.connected) {
    try {
      process.send(msg);
    } catch {
      // Supervisor gone: "disconnect" starts our shutdown.
    }
  }
}

/** Expected duration of one batch: the batch size is chosen from recent handler times to fit it. */
const BATCH_MS = 10;
/** Most jobs a slot asks for in one round trip. */
const MAX_BATCH = 32;
/** Outcomes held back to go out with the next reserves are sent at once after this long. */
const HOLD_OUTCOMES_MS = 20;
/** A job held longer than this before its handler starts is touched first (its TTR starts again). */
const TOUCH_AFTER_MS = 200;

/** A reserved job this process holds: waiting in its slot's batch, or running. */
interface Held {
  id: number;
  body: Uint8Array;
  info: JobInfo;
  /** When the server's reply arrived (ms, performance.now()): its TTR runs from about then. */
  reservedAt: number;
  conn: WorkerConnection;
  started: number;
  /** A keep-alive touch failed: the server took the job back while it waited. */
  lost?: boolean;
}

/** Runs until shut down; resolves with the exit code. */
export async function runWorker(opts: WorkerOptions): Promise<number> {
  const { file, host, port } = opts;
  const log = opts.log.child({ tube: file.tube });
  // Listen first: the supervisor's "init" is sent as soon as we are spawned.
  const notRun = new Map<number, number>();
  let initDone!: () => void;
  const init = new Promise<void>((r) => (initDone = r));
  let onShutdown: ((graceMs: number) => void) | null = null;
  let shutdownAsked: number | null = null;
  process.on("message", (m: unknown) => {
    const msg = m as SupervisorMessage;
    if (msg?.t === "init") {
      for (const [id, n] of msg.notRun) notRun.set(id, n);
      initDone();
    } else if (msg?.t === "shutdown") {
      if (onShutdown) onShutdown(msg.graceMs);
      else shutdownAsked = msg.graceMs;
    }
  });
  if (!process.send) initDone(); // started by hand, no supervisor
  let job: ResolvedJob;
  try {
    job = await loadJob(file);
  } catch (e) {
    log.error(`cannot load the job module: ${(e as Error).message}`, { event: "load-failed" });
    return 78;
  }

  const abort = new AbortController();
  /** Jobs reserved and not yet answered (delete/release/bury written), per slot. */
  const held = new Set<Held>();
  /** Slots waiting in reserve: closing them hands any job they get back to the server. */
  const idle = new Set<WorkerConnection>();
  /** Each slot's current batch; settles when its outcomes are acknowledged. */
  const batches: (Promise<void> | null)[] = [];
  let stopping = false;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((r) => (finish = r));
  const infoOn = log.enabled("info");

  const shutdown = async (graceMs: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down: no new jobs", { event: "stopping", running: held.size, graceMs });
    abort.abort(new Error("worker shutting down"));
    for (const c of idle) c.close();
    const all = Promise.all(batches.map((b) => b?.catch(() => {})));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (late) {
      await Promise.all(
        [...held].map(async (h) => {
          try {
            await h.conn.release(h.id, h.info.pri, 0);
            log.warn("released: still running after the grace period", {
              id: h.id,
              event: "released",
              attempt: h.info.reserves,
              ms: h.started ? Math.round(performance.now() - h.started) : 0,
            });
          } catch (e) {
            log.error(`could not release: ${(e as Error).message}`, { id: h.id, event: "release-failed" });
          }
        }),
      );
    }
    finish(0);
  };

  onShutdown = (graceMs) => void shutdown(graceMs);
  // Ctrl-C reaches the whole process group; the supervisor's message follows.
  const onSignal = (): void => void shutdown(Number(process.env.BEANRUN_GRACE_MS ?? 25_000));
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("disconnect", onSignal);

  // "end" is sent a moment late: when the slot's next job starts first, its
  // "start" message ends the previous one (one IPC message per job).
  const pendingEnd: (ReturnType<typeof setTimeout> | null)[] = [];
  const lastId: number[] = [];
  /** Per slot: the batch's jobs not started yet, told to the supervisor with the batch's first start. */
  const heldNote: (number[] | null)[] = [];

  /**
   * Runs one held job and returns the command that answers it (delete,
   * release or bury) as a thunk: the slot sends it with the next batch's
   * reserves, or sooner when the batch is slow. Null: the job is no longer
   * ours (its TTR ran out before it could start).
   */
  const run = async (h: Held, slotNo: number): Promise<(() => Promise<void>) | null> => {
    const { id, info, conn } = h;
    // Reservations an earlier worker held without starting the job (it died meanwhile) are not attempts,
    // and each kick (an operator bringing a buried job back) starts a fresh set of attempts.
    const attempt = Math.max(1, info.reserves - (notRun.get(id) ?? 0) - info.kicks * job.attempts);
    const pri = info.pri;
    const fields = { id, attempt };
    const started = performance.now();
    h.started = started;
    const bury = (reason: string, event: string) => () =>
      conn.bury(id, pri).then(() => log.warn(`buried: ${reason}`, { ...fields, event, ms: Math.round(performance.now() - started) }));

    if (attempt > job.attempts) {
      // Earlier runs ended without an outcome (killed at TTR, crashed).
      return bury(`attempt ${attempt} of ${job.attempts}: earlier runs timed out or crashed`, "buried");
    }
    let payload: unknown;
    try {
      payload = JSON.parse(decoder.decode(h.body));
    } catch (e) {
      return bury(`payload is not JSON: ${(e as Error).message}`, "invalid");
    }
    if (job.schema) {
      const v = await validatePayload(job.schema, payload);
      if (!v.ok) return bury(`payload rejected by the schema: ${v.reason}`, "invalid");
      payload = v.value;
    }

    // A job that waited in its batch behind a slow handler gets a full TTR again before it starts.
    if (!h.lost && started - h.reservedAt > TOUCH_AFTER_MS) {
      try {
        await conn.touch(id);
        h.reservedAt = performance.now();
      } catch (e) {
        if (!(e instanceof BeanstalkError && e.code === "NOT_FOUND")) throw e;
        h.lost = true;
      }
    }
    if (h.lost) {
      log.warn("not run: its TTR ran out while it waited behind a slow handler (the server has it back)", { ...fields, event: "lost" });
      return null;
    }
    const ttrMs = info.ttr * 1000;
    // The server's clock for this reservation started when the reply was sent, a little before reservedAt.
    const deadline = Date.now() + Math.max(0, ttrMs - (performance.now() - h.reservedAt));
    const msg: WorkerMessage & { t: "start" } = { t: "start", id, attempt, deadline, slot: slotNo };
    const pend = pendingEnd[slotNo];
    if (pend) {
      clearTimeout(pend);
      pendingEnd[slotNo] = null;
      msg.ends = lastId[slotNo];
    }
    const heldIds = heldNote[slotNo];
    if (heldIds) {
      heldNote[slotNo] = null;
      msg.held = heldIds;
    }
    tell(msg);
    lastId[slotNo] = id;
    let jobLog: Logger | null = null;
    const ctx: JobContext = {
      id,
      tube: job.tube,
      attempt,
      signal: abort.signal,
      get log() {
        return (jobLog ??= log.child(fields));
      },
      touch: async () => {
        await conn.touch(id);
        tell({ t: "touch", id, deadline: Date.now() + ttrMs });
      },
    };
    let error: unknown = null;
    try {
      await job.handler(payload, ctx);
    } catch (e) {
      error = e ?? new Error("handler threw a nullish value");
    }
    const ms = Math.round((performance.now() - started) * 100) / 100;
    pendingEnd[slotNo] = setTimeout(() => {
      pendingEnd[slotNo] = null;
      tell({ t: "end", id });
    }, 1);

    if (error === null) {
      return infoOn ? () => conn.delete(id).then(() => log.info("done", { ...fields, event: "done", ms })) : () => conn.delete(id);
    }
    if (attempt < job.attempts) {
      const delay = retryDelay(job.backoff, attempt);
      return () =>
        conn.release(id, pri, delay).then(() => log.warn(`failed, retrying in ${delay}s: ${errorText(error)}`, { ...fields, event: "retry", delay, ms }));
    }
    return () =>
      conn.bury(id, pri).then(() => log.error(`failed, buried after ${attempt} attempts: ${errorText(error)}`, { ...fields, event: "buried", ms }));
  };

  const slot = async (conn: WorkerConnection, slotNo: number): Promise<void> => {
    /** Jobs to ask for next round trip. */
    let want = 1;
    /** Recent handler time per job (ms), smoothed. */
    let perJob = 0;
    /** Outcome commands of finished jobs not sent yet: they go out with the next reserves. */
    let outcomes: (() => Promise<void>)[] = [];
    let outcomeTimer: ReturnType<typeof setTimeout> | null = null;
    /** Acknowledgements of the outcomes sent. */
    let acks: Promise<void>[] = [];
    const sendOutcomes = (): void => {
      if (outcomeTimer) {
        clearTimeout(outcomeTimer);
        outcomeTimer = null;
      }
      for (const o of outcomes) acks.push(o());
      outcomes = [];
    };
    const settleAcks = async (): Promise<void> => {
      const a = acks;
      acks = [];
      try {
        await Promise.all(a);
      } catch (e) {
        if (!stopping) throw e;
      }
    };
    let endBatch: () => void = () => {};
    try {
      for (;;) {
        sendOutcomes();
        if (stopping) {
          await settleAcks();
          return;
        }
        // One write: the previous batch's outcomes, then either one waiting reserve or, while the
        // tube has had jobs waiting, `want` reserve-with-timeout 0s (a waiting reserve in front of
        // them would hold their replies until the server next reads this connection).
        const first = want === 1 ? conn.reserve() : null;
        const more: Promise<Reserved | null>[] = [];
        for (let i = first ? 1 : 0; i < want; i++) more.push(conn.reserveNow());
        first?.catch(() => {});
        for (const m of more) m.catch(() => {});
        await settleAcks();
        endBatch(); // the previous batch is answered
        if (stopping) {
          conn.close(); // jobs these reserves get go back to ready
          return;
        }
        const got: Reserved[] = [];
        if (first) {
          idle.add(conn);
          try {
            got.push(await first);
          } catch (e) {
            idle.delete(conn);
            if (stopping) return;
            // Cannot happen while the slot holds nothing.
            if (!(e instanceof BeanstalkError && e.code === "DEADLINE_SOON")) throw e;
          }
        }
        for (const m of more) {
          const r = await m.catch((e: unknown) => {
            if (stopping) return null;
            throw e;
          });
          if (r) got.push(r);
        }
        if (got.length === 0) {
          want = 1; // nothing waiting: block in reserve next
          continue;
        }
        idle.delete(conn);
        if (stopping) {
          conn.close(); // the server takes the jobs back
          return;
        }
        batches[slotNo] = new Promise<void>((r) => (endBatch = r));
        const reservedAt = performance.now();
        const infos = await Promise.all(got.map((r) => conn.jobInfo(r.id)));
        const batch: Held[] = got.map((r, i) => ({ id: r.id, body: r.body, info: infos[i]!, reservedAt, conn, started: 0 }));
        for (const h of batch) held.add(h);
        const t0 = performance.now();
        // Jobs still waiting in the batch while a handler runs long are touched, so their TTR does not run out.
        let next = 0;
        const keepAlive =
          batch.length > 1
            ? setInterval(() => {
                const now = performance.now();
                for (let i = next + 1; i < batch.length; i++) {
                  const w = batch[i]!;
                  if (now - w.reservedAt < TOUCH_AFTER_MS) continue;
                  w.reservedAt = now;
                  conn.touch(w.id).catch(() => (w.lost = true));
                }
              }, TOUCH_AFTER_MS)
            : null;
        try {
          for (; next < batch.length; next++) {
            const h = batch[next]!;
            if (next === 0 || heldNote[slotNo]) heldNote[slotNo] = batch.slice(next + 1).map((x) => x.id);
            const outcome = await run(h, slotNo);
            if (!outcome) {
              held.delete(h);
              continue;
            }
            outcomes.push(() => outcome().finally(() => held.delete(h)));
          // Finished jobs are not kept waiting for their delete by a slow batch or a slow next handler.
            if (performance.now() - t0 > HOLD_OUTCOMES_MS) sendOutcomes();
            else outcomeTimer ??= setTimeout(sendOutcomes, HOLD_OUTCOMES_MS);
          }
        } finally {
          if (keepAlive) clearInterval(keepAlive);
        }
        const each = (performance.now() - t0) / batch.length;
        perJob = perJob === 0 ? each : perJob * 0.7 + each * 0.3;
        const fits = Math.max(1, Math.floor(BATCH_MS / Math.max(perJob, 0.001)));
        // Grow while batches come back full (jobs are waiting), never past what fits in BATCH_MS.
        want = batch.length === want ? Math.min(MAX_BATCH, fits, want * 2) : Math.max(1, Math.min(fits, batch.length + 1));
      }
    } finally {
      if (outcomeTimer) clearTimeout(outcomeTimer);
      endBatch();
    }
  };

  const conns: WorkerConnection[] = [];
  try {
    for (let i = 0; i < job.concurrency; i++) {
      const c = await WorkerConnection.connect(host, port);
      conns.push(c);
      if (job.tube !== "default") {
        await c.watch(job.tube);
        await c.ignore("default");
      }
    }
  } catch (e) {
    log.error(`cannot reach the server at ${host}:${port}: ${(e as Error).message}`, { event: "connect-failed" });
    for (const c of conns) c.close();
    return 1;
  }
  // Wait (briefly) for the supervisor's list of reservations that were not attempts.
  let initTimer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([init, new Promise<void>((r) => (initTimer = setTimeout(r, 2000)))]);
  clearTimeout(initTimer);
  if (shutdownAsked !== null) void shutdown(shutdownAsked);
  conns.forEach((c, i) => {
    slot(c, i).catch((e: unknown) => {
      if (stopping) return;
      log.error(`worker failed: ${errorText(e)}`, { event: "worker-failed" });
      finish(1);
    });
  });
  tell({ t: "ready", tube: job.tube, concurrency: job.concurrency });
  log.debug("worker loaded", { event: "worker-loaded", concurrency: job.concurrency, pid: process.pid });

  const code = await finished;
  for (const c of conns) c.close();
  return code;
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}
