/**
 * Where the supervisor learns that a tube has work (see supervisor.ts):
 *
 * - Embedded server: the queue's own listener (QueueListener.jobReady) calls
 *   `backlog(tube, ready)` as each job becomes ready (put, release, end of a
 *   delay, kick, a timed-out reservation), and the count is read from the
 *   queue. No polling; a put into a tube with no process starts one in the
 *   same turn.
 * - --connect: the beanstalkd protocol has no notification that leaves jobs
 *   alone. Its only blocking primitive, `reserve`, takes the job: the job
 *   would count a reservation that is not an attempt (and, handed back, a
 *   release) on every server the project's workers share, and be invisible
 *   to other workers meanwhile. So the runner asks instead, the cheapest
 *   way that touches no job: one connection, and every POLL_MS one pipelined
 *   `stats-tube` per tube in a single write (30 tubes: 120 small commands a
 *   second). A cold start costs at most POLL_MS more than embedded.
 *
 *   When that connection fails, the runner logs one line ("server gone,
 *   reconnecting"), reports no work meanwhile (the tubes' workers exit by
 *   themselves with EXIT.serverGone, which is not a crash), and retries with
 *   capped, jittered exponential backoff; "server back" when it answers.
 */
import { Client } from "../../client/index.ts";
import type { Queue } from "../../queue/queue.ts";
import { errorInfo, type RunnerEvents } from "../events.ts";

export const POLL_MS = 250;
/** Reconnect delays: RETRY_BASE_MS doubling up to RETRY_MAX_MS, each drawn from [d/2, d]. */
const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 5_000;

export interface BacklogSource {
  /** Ready jobs in `tube` now (embedded) or at the last poll. */
  readyIn(tube: string): number;
  /** A worker lost the server: forget the counts (no restarts on stale ones) and ask again now. */
  suspect(): void;
  /** Whether the server answered the last time it was asked (embedded: always). */
  connected(): boolean;
  stop(): void;
}

type Hint = (tube: string, ready: number) => void;

export function queueBacklog(queue: Queue, hint: Hint): BacklogSource {
  queue.listen({ jobReady: hint });
  return { readyIn: (tube) => queue.readyIn(tube), suspect: () => {}, connected: () => true, stop: () => queue.listen(null) };
}

/** Capped exponential backoff with jitter: the delay before retry number `n` (1-based). */
export function retryDelay(n: number, random = Math.random): number {
  const d = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, n - 1));
  return Math.round(d / 2 + random() * (d / 2));
}

export function pollBacklog(host: string, port: number, tubes: () => string[], hint: Hint, events: RunnerEvents): BacklogSource {
  const server = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const counts = new Map<string, number>();
  let client: Client | null = null;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let goneSince = 0;
  let failures = 0;
  let answered = false;

  const later = (ms: number): void => {
    if (!stopped) timer = setTimeout(() => void tick(), ms);
  };
  const tick = async (): Promise<void> => {
    try {
      if (!client || client.closed) client = await Client.connect({ host, port });
      if (stopped) return void client.close(); // stopped while connecting
      const names = tubes();
      const replies = await Promise.all(
        names.map((t) =>
          client!.statsTube(t).then(
            (s) => s["current-jobs-ready"],
            (e: { code?: string }) => {
              if (e?.code === "NOT_FOUND") return 0; // no job has used the tube yet
              throw e;
            },
          ),
        ),
      );
      answered = true;
      if (goneSince) {
        events.emit({ type: "server.back", server, downMs: Date.now() - goneSince });
        goneSince = 0;
        failures = 0;
      }
      names.forEach((t, i) => {
        counts.set(t, replies[i]!);
        if (replies[i]! > 0) hint(t, replies[i]!);
      });
      later(POLL_MS);
    } catch (e) {
      client?.close();
      client = null;
      answered = false;
      counts.clear();
      const delay = retryDelay(++failures);
      if (!goneSince) {
        goneSince = Date.now();
        if (!stopped) events.emit({ type: "server.gone", server, error: errorInfo(e), retryInMs: delay });
      }
      later(delay);
    }
  };
  void tick();
  return {
    readyIn: (tube) => counts.get(tube) ?? 0,
    connected: () => answered,
    suspect: () => {
      counts.clear();
      if (timer && !goneSince) {
        clearTimeout(timer);
        later(0);
      }
    },
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      client?.close();
    },
  };
}
