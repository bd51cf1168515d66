/**
 * One tube's worker process: loads the tube's module, opens one connection
 * per concurrency slot (slot.ts), and runs until the supervisor asks it to
 * stop, it has been idle for the idle time (idle.ts), or it loses the server.
 * Resolves with the exit code the supervisor reads (ipc.ts EXIT).
 */
import { ConnectionError } from "../../client/errors.ts";
import { NotRunCounts } from "../attempts.ts";
import type { ResolvedJob } from "../define.ts";
import type { JobFile } from "../discover.ts";
import { type BootMarks, errorInfo } from "../events.ts";
import { EXIT } from "../ipc.ts";
import { loadJob } from "../load-job.ts";
import type { Logger } from "../log.ts";
import { WorkerConnection } from "../wire.ts";
import { IdleGate } from "./idle.ts";
import { keepRunningAlive } from "./job-run.ts";
import type { SupervisorLink } from "./link.ts";
import type { WorkerScope } from "./scope.ts";
import { shutdown } from "./shutdown.ts";
import { Slot } from "./slot.ts";

export interface WorkerOptions {
  file: JobFile;
  host: string;
  port: number;
  log: Logger;
  link: SupervisorLink;
  /** A connection opened ahead of need (a spare's): the first slot's, if the server has not closed it. */
  preconnected?: WorkerConnection | null;
  /** The start's first steps (the rest are marked here and sent with "ready"). */
  boot: Pick<BootMarks, "spare" | "process" | "loaded" | "assigned">;
}

/** How long a stopping worker waits for its slots to hang up (Connection.end closes by itself after 2 s). */
const LOOPS_END_MS = 3000;

/** Epoch ms with the sub-millisecond fraction, comparable across processes. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

export async function runWorker({ file, host, port, log, link, boot, preconnected }: WorkerOptions): Promise<number> {
  let job: ResolvedJob;
  try {
    job = await loadJob(file);
  } catch (e) {
    link.emit({ type: "module.failed", tube: file.tube, file: file.display, error: errorInfo(e) });
    return EXIT.loadFailed;
  }
  const imported = epochMs();
  let conns: WorkerConnection[];
  let watching: Promise<unknown>;
  try {
    ({ conns, watching } = await openSlots(job, host, port, preconnected));
  } catch {
    return EXIT.serverGone; // the supervisor says so once, and starts a worker again when the server is back
  }
  const init = await link.init;
  const notRun = new NotRunCounts();
  notRun.load(init.notRun);
  link.onNotRun((entries) => notRun.load(entries));
  const w: WorkerScope = {
    job,
    link,
    log,
    notRun,
    abort: new AbortController(),
    held: new Set(),
    running: new Set(),
    idle: new Set(),
    gate: null,
    idleSeconds: init.idleSeconds,
    stopping: false,
  };
  let finish!: (code: number) => void;
  const finished = new Promise<number>((r) => (finish = r));
  if (init.idleSeconds > 0) w.gate = new IdleGate(job.concurrency, () => finish(EXIT.ok));
  const slots = conns.map((c, i) => new Slot(w, c, i));
  let loops: Promise<unknown> = Promise.resolve();
  // The slots' loops end too (a stopping slot reports the jobs it hung up on), within a bound; not a handler past its grace.
  const stop = (graceMs: number): void =>
    void shutdown(w, slots, graceMs)
      .then((late) => (late ? null : Promise.race([loops, new Promise((r) => setTimeout(r, LOOPS_END_MS))])))
      .then(() => finish(EXIT.ok));
  link.onShutdown(stop);
  // Ctrl-C reaches the whole process group; the supervisor's message follows.
  const onSignal = (): void => stop(Number(process.env.BEANRUN_GRACE_MS ?? 25_000));
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("disconnect", onSignal);
  const keepAlive = setInterval(() => keepRunningAlive(w), 250);
  loops = Promise.all(
    slots.map((s) =>
      s.loop().catch((e: unknown) => {
        if (w.stopping) return;
        if (e instanceof ConnectionError) return finish(EXIT.serverGone);
        link.emit({ type: "runner.error", tube: job.tube, msg: `worker failed: ${errorInfo(e).message}`, error: errorInfo(e) });
        finish(1);
      }),
    ),
  );
  // The first reserves went out right behind watch and ignore: "ready" once those are answered.
  watching.then(
    () => link.send({ t: "ready", tube: job.tube, concurrency: job.concurrency, boot: { ...boot, imported, connected: epochMs() } }),
    () => finish(EXIT.serverGone),
  );
  const code = await finished;
  clearInterval(keepAlive);
  for (const c of conns) c.close();
  return code;
}

/**
 * One connection per concurrency slot, opened together (the spare's own is
 * open already). Each is to watch only the tube: watch and ignore are sent
 * at once and not awaited here (`watching` settles with their replies), so
 * the slot's first reserve follows them without a round trip between.
 */
async function openSlots(
  job: ResolvedJob,
  host: string,
  port: number,
  pre?: WorkerConnection | null,
): Promise<{ conns: WorkerConnection[]; watching: Promise<unknown> }> {
  const opened = await Promise.allSettled(
    Array.from({ length: job.concurrency }, (_, i) =>
      i === 0 && pre && !pre.closed ? Promise.resolve(pre) : WorkerConnection.connect(host, port),
    ),
  );
  const conns = opened.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  if (pre && !conns.includes(pre)) pre.close();
  if (conns.length < opened.length) {
    for (const c of conns) c.close();
    throw new Error("cannot connect");
  }
  const watching = job.tube === "default" ? Promise.resolve() : Promise.all(conns.flatMap((c) => [c.watch(job.tube), c.ignore("default")]));
  watching.catch(() => {});
  return { conns, watching };
}
