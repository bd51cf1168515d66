/**
 * Where the supervisor learns that a tube has work (see supervisor.ts):
 *
 * - Embedded server: the queue's own listener (QueueListener.jobReady) calls
 *   `backlog(tube, ready)` as each job becomes ready (put, release, end of a
 *   delay, kick, a timed-out reservation), and the count is read from the
 *   queue. No polling; a put into a tube with no process starts one in the
 *   same turn.
 * - --connect: the beanstalkd protocol has no notification that leaves jobs
 *   alone. Its only blocking primitive, `reserve`, takes the job: a watcher
 *   that reserved and at once released it would add one to the job's
 *   `reserves` and `releases` in stats-job, which every runner sharing the
 *   server reads as an attempt (this runner could discount it in its
 *   ledger, another replica of the same tube could not), and hide it from
 *   other workers meanwhile. So the runner asks instead, touching no job,
 *   on one connection:
 *   - every WAKE_MS one `stats` (a single small command): whether anything
 *     that can make a job ready happened anywhere on the server since the
 *     last look (a put, a release, a kick, a delay or a reservation ending:
 *     the job counts and those commands' counters: SIGNATURE);
 *   - only then, pipelined `stats-tube` in one write: for the tubes with no
 *     process here at most every IDLE_GAP_MS (a cold start waits about
 *     WAKE_MS, not POLL_MS), for every tube at most every POLL_MS (the
 *     backlog that scales busy tubes out).
 *   An idle server costs one `stats` per WAKE_MS (20 a second, against the
 *   120 `stats-tube` a flat 250 ms poll of 30 tubes sent; measured on a
 *   loaded 2-core machine: runner and `beanrun serve` together about 1%
 *   of a core more than that poll); a busy one at most the idle tubes every
 *   IDLE_GAP_MS and all of them every POLL_MS. Replies are read for the few
 *   numbers needed, not parsed whole. With --store (a database behind the
 *   embedded server, where `stats` may count rows) the runner polls every
 *   tube every POLL_MS, as before.
 *
 *   When that connection fails, the runner logs one line ("server gone,
 *   reconnecting"), reports no work meanwhile (the tubes' workers exit by
 *   themselves with EXIT.serverGone, which is not a crash), and retries with
 *   capped, jittered exponential backoff; "server back" when it answers.
 */
import { Connection, openSocket } from "../../client/connection.ts";
import { BeanstalkError, isErrorCode } from "../../client/errors.ts";
import type { Reply } from "../../client/replies.ts";
import type { Queue } from "../../queue/queue.ts";
import { errorInfo, type RunnerEvents } from "../events.ts";
import { ascii, field } from "../wire.ts";

/** Every tube's backlog is asked at most this often (and only when something changed). */
export const POLL_MS = 250;
/** How often the server's counters are read, when waking on them. */
export const WAKE_MS = 50;
/** Tubes with no process are asked at most this often (when something changed). */
export const IDLE_GAP_MS = 50;
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

/** The `stats` fields that change whenever a job may have become ready somewhere on the server. */
const SIGNATURE = [
  "total-jobs",
  "cmd-put",
  "cmd-release",
  "cmd-kick",
  "job-timeouts",
  "current-jobs-ready",
  "current-jobs-delayed",
  "current-jobs-buried",
  "current-jobs-reserved",
].map((k) => ascii(`\n${k}: `));
const READY = ascii("\ncurrent-jobs-ready: ");

/** Reads only the numbers it needs from the YAML (these run dozens of times a second: no full parse). */
const D = {
  signature: (r: Reply): string => {
    if (r.word !== "OK" || !r.body) throw new BeanstalkError(isErrorCode(r.word) ? r.word : "UNEXPECTED", "stats");
    return SIGNATURE.map((k) => field(r.body!, k)).join(" ");
  },
  /** A tube no job has used yet does not exist: 0. */
  ready: (r: Reply): number => {
    if (r.word === "NOT_FOUND") return 0;
    if (r.word !== "OK" || !r.body) throw new BeanstalkError(isErrorCode(r.word) ? r.word : "UNEXPECTED", "stats-tube");
    return Math.max(0, field(r.body, READY));
  },
};

export interface PollOptions {
  /** Tubes with no process here (asked sooner when something changed). */
  idle?: (tube: string) => boolean;
  /** Wake on the server's counters every WAKE_MS (default); false: ask every tube every POLL_MS. */
  wake?: boolean;
}

export function pollBacklog(
  host: string,
  port: number,
  tubes: () => string[],
  hint: Hint,
  events: RunnerEvents,
  opts: PollOptions = {},
): BacklogSource {
  const server = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const wake = opts.wake ?? true;
  const counts = new Map<string, number>();
  let client: Connection | null = null;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let goneSince = 0;
  let failures = 0;
  let answered = false;
  /** The last signature seen; whether all tubes / the idle ones have been asked since it changed. */
  let seen = "";
  let allDue = true;
  let idleDue = true;
  let lastAll = -Infinity;
  let lastIdle = -Infinity;

  const later = (ms: number): void => {
    if (!stopped) timer = setTimeout(() => void tick(), ms);
  };
  /** Which tubes to ask now (none: nothing changed, or asked too recently). */
  const due = async (c: Connection): Promise<string[]> => {
    if (wake) {
      const sig = await c.request("stats", "stats\r\n", D.signature);
      if (sig !== seen) {
        seen = sig;
        allDue = idleDue = true;
      }
    } else allDue = true;
    const now = Date.now();
    if (allDue && now - lastAll >= POLL_MS) {
      allDue = idleDue = false;
      lastAll = lastIdle = now;
      return tubes();
    }
    if (idleDue && opts.idle && now - lastIdle >= IDLE_GAP_MS) {
      idleDue = false;
      lastIdle = now;
      return tubes().filter(opts.idle);
    }
    return [];
  };
  const tick = async (): Promise<void> => {
    try {
      if (!client || client.closed) client = new Connection(await openSocket({ host, port }));
      if (stopped) return void client.close(); // stopped while connecting
      const c = client;
      const names = await due(c);
      const replies = await Promise.all(names.map((t) => c.request("stats-tube", `stats-tube ${t}\r\n`, D.ready)));
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
      later(wake ? WAKE_MS : POLL_MS);
    } catch (e) {
      client?.close();
      client = null;
      answered = false;
      counts.clear();
      seen = "";
      lastAll = lastIdle = -Infinity;
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
      seen = "";
      lastAll = lastIdle = -Infinity;
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
