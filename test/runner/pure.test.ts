// The runner's pure rules, driven directly: what becomes of a job (decide),
// attempt counting, batch sizing and keep-alive timing, the idle gate, the
// process policy (scale out, cap, fairness) and the reconnect backoff.
import { expect, test } from "bun:test";
import { AttemptLedger, attemptOf } from "../../runtime/runner/attempts.ts";
import { retryDelay } from "../../runtime/runner/supervisor/backlog.ts";
import { plan, type TubeView, wantsMore } from "../../runtime/runner/supervisor/policy.ts";
import { BatchSizer, heldDueForTouch, keepAliveMs, MAX_BATCH, TOUCH_AFTER_MS } from "../../runtime/runner/worker/batching.ts";
import { beforeRun, decide, InvalidPayload } from "../../runtime/runner/worker/decide.ts";
import { IdleGate } from "../../runtime/runner/worker/idle.ts";

const policy = { attempts: 3, backoff: { base: 1, factor: 2, max: 600 } };

test("decide: delete on success, bury invalid payloads at once, release with backoff, bury after the last attempt", () => {
  expect(decide(null, 1, policy)).toEqual({ action: "delete" });
  expect(decide(new InvalidPayload("bad"), 1, policy)).toEqual({ action: "bury", reason: "invalid" });
  expect(decide(new Error("x"), 1, policy)).toEqual({ action: "release", delay: 1 });
  expect(decide(new Error("x"), 2, policy)).toEqual({ action: "release", delay: 2 });
  expect(decide("a string", 3, policy)).toEqual({ action: "bury", reason: "failed" });
  expect(beforeRun(3, policy)).toBeNull();
  expect(beforeRun(4, policy)).toEqual({ action: "bury", reason: "exhausted" });
});

test("attempts: reservations that were not runs and kicks are discounted", () => {
  expect(attemptOf(1, 0, 0, 3)).toBe(1);
  expect(attemptOf(3, 0, 1, 3)).toBe(2);
  expect(attemptOf(4, 1, 0, 3)).toBe(1); // kicked once after 3 attempts: a fresh set
  expect(attemptOf(0, 0, 0, 3)).toBe(1);

  const l = new AttemptLedger();
  l.started(100, 0, 1, [2, 3, 4]);
  l.started(100, 0, 2);
  l.exited(100, true); // killed holding 3 and 4 unstarted
  expect(l.entries()).toEqual([
    [3, 1],
    [4, 1],
  ]);
  l.started(200, 0, 3, [4]);
  l.exited(200, false); // a clean stop records nothing
  expect(l.entries()).toEqual([
    [3, 1],
    [4, 1],
  ]);
  l.started(300, 1, 5, [4]);
  l.exited(300, true);
  expect(new Map(l.entries()).get(4)).toBe(2);
});

test("attempts: a question about a retry waits while a process of the tube hangs up, and gets what its hang-up reported", () => {
  const l = new AttemptLedger();
  const got: [number, number][] = [];
  l.ask(7, (n) => got.push([7, n]));
  expect(got).toEqual([[7, 0]]); // nobody hanging up: answered at once

  l.hangingUp(100); // a stopping process is about to close its connections
  l.hangingUp(200); // and another is killed at its TTR
  l.ask(8, (n) => got.push([8, n]));
  l.reservedNotRun([8]); // 100's slot was answered job 8 as it hung up
  l.hungUp(100);
  expect(got).toHaveLength(1); // 200 has not exited yet
  l.exited(200, false);
  expect(got).toEqual([
    [7, 0],
    [8, 1],
  ]);
  l.hungUp(200); // twice (hungUp, then its exit) is harmless
  l.ask(8, (n) => got.push([8, n]));
  expect(got.at(-1)).toEqual([8, 1]);
});

test("batch size doubles while batches come back full, fits the time budget, and falls to one when nothing waits", () => {
  const b = new BatchSizer();
  expect(b.want).toBe(1);
  b.ran(1, 0.01);
  expect(b.want).toBe(2);
  for (let i = 0; i < 10; i++) b.ran(b.want, b.want * 0.01);
  expect(b.want).toBe(MAX_BATCH);
  for (let i = 0; i < 5; i++) b.ran(b.want, b.want * 5); // 5 ms a job: two fit in 10 ms
  expect(b.want).toBe(2);
  b.empty();
  expect(b.want).toBe(1);
});

test("keep-alive: held jobs are touched after TOUCH_AFTER_MS; a running job only when its own TTR is not longer than the module's", () => {
  expect(heldDueForTouch([0, 0, 150, 0], 1, TOUCH_AFTER_MS)).toEqual([1, 3]);
  expect(keepAliveMs(5, 30)).toBe(4000);
  expect(keepAliveMs(1, 5)).toBe(500);
  expect(keepAliveMs(60, 60)).toBe(59_000);
  expect(keepAliveMs(120, 60)).toBeNull();
});

test("idle gate: the process ends only when every slot timed out; work on one slot wakes the others", async () => {
  let idle = 0;
  const g = new IdleGate(2, () => idle++);
  const a = g.park();
  g.busy();
  expect(await a).toBe(true);
  const b = g.park();
  const c = g.park();
  expect([await b, await c]).toEqual([false, false]);
  expect(idle).toBe(1);
  expect(await g.park()).toBe(false);
});

const view = (tube: string, o: Partial<TubeView> = {}): TubeView => ({
  tube,
  procs: 0,
  starting: 0,
  min: 0,
  max: 1,
  concurrency: 1,
  backlog: 0,
  blocked: false,
  waitingSince: null,
  oldestStart: null,
  ...o,
});

test("policy: a first process for work, more while the backlog outgrows the busy ones, none while starting or blocked", () => {
  expect(wantsMore(view("a"))).toBe(false);
  expect(wantsMore(view("a", { backlog: 1 }))).toBe(true);
  expect(wantsMore(view("a", { min: 1 }))).toBe(true);
  expect(wantsMore(view("a", { backlog: 9, blocked: true }))).toBe(false);
  expect(wantsMore(view("a", { procs: 1, max: 3, backlog: 5, concurrency: 4 }))).toBe(true);
  expect(wantsMore(view("a", { procs: 1, max: 3, backlog: 3, concurrency: 4 }))).toBe(false);
  expect(wantsMore(view("a", { procs: 1, starting: 1, max: 3, backlog: 50 }))).toBe(false);
  expect(wantsMore(view("a", { procs: 3, max: 3, backlog: 50 }))).toBe(false);
});

test("policy: the cap is shared fairly; a starved tube makes the biggest holder yield, or the longest runner after the quantum", () => {
  // Cap 2: a flood on "a" (max 4) takes both; "b" has work and none.
  const flood = view("a", { procs: 2, max: 4, backlog: 1000, oldestStart: 0 });
  let p = plan([flood, view("b", { backlog: 1 })], 2, 1000, 10_000, false);
  expect(p).toEqual({ start: [], waiting: ["b", "a"], yieldFrom: "a" });
  // With room, the tube with fewer processes goes first.
  p = plan([view("a", { procs: 1, max: 4, backlog: 1000, oldestStart: 0 }), view("b", { backlog: 1 })], 3, 1000, 10_000, false);
  expect(p.start).toEqual(["b", "a"]);
  // Every tube holds one, the cap is reached: "c" waits, then after the quantum the longest runner yields.
  const busy = [view("a", { procs: 1, backlog: 5, oldestStart: 0 }), view("b", { procs: 1, backlog: 5, oldestStart: 500 })];
  p = plan([...busy, view("c", { backlog: 1, waitingSince: 1000 })], 2, 2000, 10_000, false);
  expect(p).toEqual({ start: [], waiting: ["c"], yieldFrom: null });
  p = plan([...busy, view("c", { backlog: 1, waitingSince: 1000 })], 2, 11_000, 10_000, false);
  expect(p.yieldFrom).toBe("a");
  // One yield at a time.
  expect(plan([...busy, view("c", { backlog: 1, waitingSince: 1000 })], 2, 11_000, 10_000, true).yieldFrom).toBeNull();
  // min processes are never asked to yield.
  expect(
    plan([view("a", { procs: 1, min: 1, oldestStart: 0 }), view("c", { backlog: 1, waitingSince: 0 })], 1, 60_000, 10_000, false).yieldFrom,
  ).toBeNull();
});

test("reconnect backoff: doubling from 100 ms, capped at 5 s, jittered within [d/2, d]", () => {
  expect([1, 2, 3].map((n) => retryDelay(n, () => 1))).toEqual([100, 200, 400]);
  expect(retryDelay(20, () => 1)).toBe(5000);
  expect(retryDelay(20, () => 0)).toBe(2500);
});
