/**
 * The two systems bench/runner/run.ts compares, started fresh for each
 * sample: `beanrun run` (embedded server + one worker process) and BullMQ
 * (Redis + a Node worker process), behind one interface (Running); and the
 * /proc and timing helpers the samples use. Kept apart from the driver so that
 * the file stays under the house's 400 lines (issue 8).
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Queue } from "bullmq";
import { Client } from "../../runtime/client/index.ts";
import { children, tail } from "../lib/processes.ts";
import type { Options } from "./options.ts";

export const HERE = import.meta.dir;
export const ROOT = resolve(HERE, "../..");
export const BUN = process.execPath;
export const NODE = process.env.NODE ?? "node";
export const REDIS = process.env.REDIS_SERVER ?? "redis-server";
export const TUBE = "bench";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = (): number => performance.timeOrigin + performance.now();

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

export async function until(what: string, ms: number, fn: () => Promise<boolean> | boolean, every = 20): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

export async function stopProc(p: Bun.Subprocess, sig: NodeJS.Signals = "SIGTERM"): Promise<void> {
  p.kill(sig);
  const t = setTimeout(() => p.kill("SIGKILL"), 5000);
  await p.exited;
  clearTimeout(t);
  children.delete(p);
}

// ---------------------------------------------------------------- the two systems

/** What a sample needs from a running system. */
export interface Running {
  /** Processes whose CPU use is reported: label -> pid. */
  pids: Record<string, number>;
  /** Queues `n` jobs with this payload builder; resolves when all are accepted. */
  putMany(n: number, payload: (i: number) => object): Promise<void>;
  /** Puts one job without waiting for the reply (latency runs). */
  putOne(payload: object): Promise<unknown>;
  /** Jobs completed so far (deleted / removed on completion). */
  completed(): Promise<number>;
  /** Stop handing jobs to the worker (beanrun: pause-tube; BullMQ: queue.pause()), and start again. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
  stderr(): string;
}

export async function startBeanrun(o: Options, concurrency: number): Promise<Running> {
  const proc = Bun.spawn(
    [
      BUN,
      join(ROOT, "runtime/cli.ts"),
      "run",
      "--jobs",
      join(HERE, "jobs"),
      "-l",
      "127.0.0.1",
      "-p",
      "0",
      "--log-level",
      o.logLevel,
      "--grace",
      "2",
    ],
    { cwd: ROOT, stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, BENCH_CONCURRENCY: String(concurrency) } },
  );
  children.add(proc);
  let port = 0;
  const err = tail(proc.stderr as ReadableStream<Uint8Array>, (t) => {
    const m = /beanrun: listening on 127\.0\.0\.1:(\d+)/.exec(t);
    if (m) port = Number(m[1]);
  });
  await until(
    "beanrun's listening line",
    15_000,
    () => {
      if (proc.exitCode !== null) throw new Error(`beanrun run exited at start: ${err.text()}`);
      return port > 0;
    },
    10,
  );
  const producer = await Client.connect({ port });
  await producer.use(TUBE);
  const probe = await Client.connect({ port });
  // Ready when every slot's connection watches the tube.
  await until(
    `${concurrency} worker connections`,
    15_000,
    async () => (await probe.statsTube(TUBE).catch(() => null))?.["current-watching"] === concurrency,
  );
  const workerPid = childPids(proc.pid)[0] ?? -1;
  const enc = new TextEncoder();
  return {
    pids: { "server+supervisor": proc.pid, worker: workerPid },
    async putMany(n, payload) {
      for (let i = 0; i < n; i += o.chunk) {
        const ps: Promise<number>[] = [];
        for (let j = i; j < Math.min(n, i + o.chunk); j++) ps.push(producer.put(enc.encode(JSON.stringify(payload(j))), { ttr: 60 }));
        await Promise.all(ps);
      }
    },
    putOne: (p) => producer.put(JSON.stringify(p), { ttr: 60 }),
    completed: async () => (await probe.statsTube(TUBE))["cmd-delete"],
    pause: () => probe.pauseTube(TUBE, 3600),
    resume: () => probe.pauseTube(TUBE, 0),
    async stop() {
      producer.close();
      probe.close();
      await stopProc(proc);
    },
    stderr: err.text,
  };
}

export async function startBullmq(o: Options, concurrency: number, tmp: string): Promise<Running> {
  const port = await freePort();
  const redis = Bun.spawn([REDIS, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  children.add(redis);
  const connection = { host: "127.0.0.1", port };
  const queue = new Queue(TUBE, { connection });
  queue.on("error", () => {}); // reconnect attempts once redis is stopped
  await until("redis", 10_000, async () => {
    if (redis.exitCode !== null) throw new Error("redis-server exited at start");
    try {
      await queue.getJobCounts();
      return true;
    } catch {
      return false;
    }
  });
  const worker = Bun.spawn([NODE, join(HERE, "bullmq-worker.mjs"), String(port), String(concurrency)], {
    cwd: ROOT,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  children.add(worker);
  let ready = false;
  tail(worker.stdout as ReadableStream<Uint8Array>, (t) => (ready ||= t.includes("ready")));
  const err = tail(worker.stderr as ReadableStream<Uint8Array>);
  await until(
    "the BullMQ worker",
    15_000,
    () => {
      if (worker.exitCode !== null) throw new Error(`BullMQ worker exited at start: ${err.text()}`);
      return ready;
    },
    10,
  );
  const opts = { removeOnComplete: true, removeOnFail: true };
  let added = 0;
  return {
    pids: { redis: redis.pid, worker: worker.pid },
    async putMany(n, payload) {
      for (let i = 0; i < n; i += o.chunk) {
        const batch = [];
        for (let j = i; j < Math.min(n, i + o.chunk); j++) batch.push({ name: "j", data: payload(j), opts });
        await queue.addBulk(batch);
      }
      added += n;
    },
    putOne: (p) => {
      added++;
      return queue.add("j", p, opts);
    },
    // Completed = added - still waiting, active or delayed (completed jobs are removed).
    completed: async () => {
      const c = await queue.getJobCounts("wait", "active", "delayed", "prioritized");
      return added - Object.values(c).reduce((a, b) => a + b, 0);
    },
    pause: () => queue.pause(),
    resume: () => queue.resume(),
    async stop() {
      await stopProc(worker);
      await queue.close();
      await stopProc(redis);
    },
    stderr: err.text,
  };
}
