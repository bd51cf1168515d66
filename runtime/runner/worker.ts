/**
 * One tube's worker process: loads the tube's module, opens one connection
 * per concurrency slot, and runs reserve -> handler -> delete/release/bury.
 * The supervisor (if any) hears about each run over IPC so it can enforce
 * the TTR even when a handler never yields.
 */
import { BeanstalkError, Client, type Job } from "../client/index.ts";
import { retryDelay, type JobContext, type ResolvedJob } from "./define.ts";
import { loadJob, type JobFile } from "./discover.ts";
import type { SupervisorMessage, WorkerMessage } from "./ipc.ts";
import type { Logger } from "./log.ts";
import { validatePayload } from "./standard-schema.ts";

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

interface Running {
  id: number;
  pri: number;
  attempt: number;
  client: Client;
  started: number;
  /** Settles when the handler's outcome has been sent to the server. */
  done: Promise<void>;
}

/** Runs until shut down; resolves with the exit code. */
export async function runWorker(opts: WorkerOptions): Promise<number> {
  const { file, host, port } = opts;
  const log = opts.log.child({ tube: file.tube });
  let job: ResolvedJob;
  try {
    job = await loadJob(file);
  } catch (e) {
    log.error(`cannot load the job module: ${(e as Error).message}`, { event: "load-failed" });
    return 78;
  }

  const abort = new AbortController();
  const running = new Set<Running>();
  const idle = new Set<Client>();
  let stopping = false;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((r) => (finish = r));

  const shutdown = async (graceMs: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down: no new jobs", { event: "stopping", running: running.size, graceMs });
    abort.abort(new Error("worker shutting down"));
    // Idle slots wait in `reserve`: closing makes the server keep (or take back) their job.
    for (const c of idle) c.close();
    const all = Promise.all([...running].map((r) => r.done));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (late) {
      await Promise.all(
        [...running].map(async (r) => {
          try {
            await r.client.release(r.id, r.pri, 0);
            log.warn("released: still running after the grace period", {
              id: r.id,
              event: "released",
              attempt: r.attempt,
              ms: Date.now() - r.started,
            });
          } catch (e) {
            log.error(`could not release: ${(e as Error).message}`, { id: r.id, event: "release-failed" });
          }
        }),
      );
    }
    finish(0);
  };

  process.on("message", (m: unknown) => {
    const msg = m as SupervisorMessage;
    if (msg?.t === "shutdown") void shutdown(msg.graceMs);
  });
  // Ctrl-C reaches the whole process group; the supervisor's message follows.
  const onSignal = (): void => void shutdown(Number(process.env.BEANRUN_GRACE_MS ?? 25_000));
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("disconnect", onSignal);

  // "end" is sent a moment late: when the slot's next job starts first, its
  // "start" message ends the previous one (one IPC message per job).
  const pendingEnd: (ReturnType<typeof setTimeout> | null)[] = [];

  /**
   * Runs one reserved job. Resolves once the handler is done and its outcome
   * command (delete/release/bury) is written; `ack` settles when the server
   * replied. Not awaiting `ack` lets the slot pipeline its next reserve.
   */
  const handle = async (client: Client, reserved: Job, r: Running, slotNo: number, prevId: number): Promise<{ ack: Promise<void> }> => {
    const id = reserved.id;
    const started = Date.now();
    const st = await client.statsJob(id);
    const attempt = Number(st.reserves);
    const pri = Number(st.pri);
    const ttr = Number(st.ttr);
    r.attempt = attempt;
    r.pri = pri;
    const fields = { id, attempt };
    const bury = (reason: string, event: string): { ack: Promise<void> } => ({
      ack: client.bury(id, pri).then(() => log.warn(`buried: ${reason}`, { ...fields, event, ms: Date.now() - started })),
    });

    if (attempt > job.attempts) {
      // Earlier runs ended without an outcome (killed at TTR, crashed).
      return bury(`attempt ${attempt} of ${job.attempts}: earlier runs timed out or crashed`, "buried");
    }
    let payload: unknown;
    try {
      payload = JSON.parse(decoder.decode(reserved.body));
    } catch (e) {
      return bury(`payload is not JSON: ${(e as Error).message}`, "invalid");
    }
    if (job.schema) {
      const v = await validatePayload(job.schema, payload);
      if (!v.ok) return bury(`payload rejected by the schema: ${v.reason}`, "invalid");
      payload = v.value;
    }

    const pend = pendingEnd[slotNo];
    if (pend) {
      clearTimeout(pend);
      pendingEnd[slotNo] = null;
      tell({ t: "start", id, attempt, deadline: started + ttr * 1000, ends: prevId });
    } else {
      tell({ t: "start", id, attempt, deadline: started + ttr * 1000 });
    }
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
        await client.touch(id);
        tell({ t: "touch", id, deadline: Date.now() + ttr * 1000 });
      },
    };
    let error: unknown = null;
    const t0 = performance.now();
    try {
      await job.handler(payload, ctx);
    } catch (e) {
      error = e ?? new Error("handler threw a nullish value");
    }
    const ms = Math.round((performance.now() - t0) * 100) / 100;
    pendingEnd[slotNo] = setTimeout(() => {
      pendingEnd[slotNo] = null;
      tell({ t: "end", id });
    }, 1);

    if (error === null) {
      return { ack: client.delete(id).then(() => log.info("done", { ...fields, event: "done", ms })) };
    }
    if (attempt < job.attempts) {
      const delay = retryDelay(job.backoff, attempt);
      return {
        ack: client
          .release(id, pri, delay)
          .then(() => log.warn(`failed, retrying in ${delay}s: ${errorText(error)}`, { ...fields, event: "retry", delay, ms })),
      };
    }
    return {
      ack: client
        .bury(id, pri)
        .then(() => log.error(`failed, buried after ${attempt} attempts: ${errorText(error)}`, { ...fields, event: "buried", ms })),
    };
  };

  const slot = async (client: Client, slotNo: number): Promise<void> => {
    let ack: Promise<void> | null = null;
    let prev: (Running & { settle(): void }) | null = null;
    let prevId = 0;
    const settlePrev = async (): Promise<void> => {
      if (!ack || !prev) return;
      const p = prev;
      try {
        await ack;
      } catch (e) {
        if (!stopping) throw e;
      } finally {
        ack = null;
        prev = null;
        running.delete(p);
        p.settle();
      }
    };
    for (;;) {
      if (stopping) {
        await settlePrev();
        return;
      }
      // Written right behind the previous job's delete/release/bury: one round trip for both.
      const next = client.reserve();
      next.catch(() => {});
      await settlePrev();
      if (stopping) {
        client.close(); // a job this reserve gets goes back to ready
        return;
      }
      idle.add(client);
      let reserved: Job;
      try {
        reserved = await next;
      } catch (e) {
        idle.delete(client);
        if (stopping) return;
        if (e instanceof BeanstalkError && e.code === "DEADLINE_SOON") continue;
        throw e;
      }
      idle.delete(client);
      if (stopping) {
        client.close(); // the server takes the job back
        return;
      }
      let settle!: () => void;
      const r: Running & { settle(): void } = {
        id: reserved.id,
        pri: 1024,
        attempt: 0,
        client,
        started: Date.now(),
        done: new Promise<void>((res) => (settle = res)),
        settle: () => settle(),
      };
      running.add(r);
      try {
        ack = (await handle(client, reserved, r, slotNo, prevId)).ack;
        prev = r;
        prevId = r.id;
      } catch (e) {
        running.delete(r);
        r.settle();
        if (!stopping) throw e;
        return;
      }
    }
  };

  const clients: Client[] = [];
  try {
    for (let i = 0; i < job.concurrency; i++) {
      const c = await Client.connect({ host, port });
      if (job.tube !== "default") {
        await c.watch(job.tube);
        await c.ignore("default");
      }
      clients.push(c);
    }
  } catch (e) {
    log.error(`cannot reach the server at ${host}:${port}: ${(e as Error).message}`, { event: "connect-failed" });
    for (const c of clients) c.close();
    return 1;
  }
  clients.forEach((c, i) => {
    slot(c, i).catch((e: unknown) => {
      if (stopping) return;
      log.error(`worker failed: ${errorText(e)}`, { event: "worker-failed" });
      finish(1);
    });
  });
  tell({ t: "ready", tube: job.tube, concurrency: job.concurrency });
  log.debug("worker loaded", { event: "worker-loaded", concurrency: job.concurrency, pid: process.pid });

  const code = await finished;
  for (const c of clients) c.close();
  return code;
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}
