/**
 * The spare pool (supervisor/spare.ts) with fake processes: one spare while
 * quiet, each take replaced, a burst grows the pool to its max one boot at
 * a time, the extras stopped once takes stop, and a spare
 * that keeps dying young given up on with one event. Waits poll the pool's
 * state with generous deadlines; nothing asserts on timing.
 */
import { expect, test } from "bun:test";
import type { SpawnedWorker } from "../../runtime/adapters/spawn.ts";
import { type RunnerEvent, RunnerEvents } from "../../runtime/runner/events.ts";
import { SHRINK_AFTER_MS, Spares } from "../../runtime/runner/supervisor/spare.ts";

interface Fake extends SpawnedWorker {
  sent: object[];
  killed: string | null;
  exit(code: number): void;
  say(msg: object): void;
}

function fakeSpawner(): { spawn: () => Fake; started: Fake[] } {
  const started: Fake[] = [];
  let pid = 1000;
  const spawn = (): Fake => {
    const exits: ((code: number | null, signal: string | null) => void)[] = [];
    const messages: ((m: unknown) => void)[] = [];
    const f: Fake = {
      pid: pid++,
      sent: [],
      killed: null,
      send: (m) => void f.sent.push(m),
      kill: (s) => {
        f.killed = s;
        for (const fn of exits) fn(null, s);
      },
      onMessage: (fn) => void messages.push(fn),
      onExit: (fn) => void exits.push(fn),
      exit: (code) => {
        for (const fn of exits) fn(code, null);
      },
      say: (m) => {
        for (const fn of messages) fn(m);
      },
    };
    started.push(f);
    return f;
  };
  return { spawn, started };
}

const file = (tube: string) => ({ tube, path: `/jobs/${tube}.ts`, display: `jobs/${tube}.ts` });

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await Bun.sleep(10);
  }
}

test("one spare while quiet; a take is replaced; a burst grows the pool to max; the extras go when takes stop", async () => {
  const { spawn, started } = fakeSpawner();
  const spares = new Spares(spawn, new RunnerEvents(), 2);
  spares.ensure();
  expect(spares.size).toBe(1);
  started[0]!.say({ t: "loaded" });

  const a = spares.take(file("a"))!;
  expect(a).toBe(started[0]!);
  expect(started[0]!.sent).toEqual([{ t: "assign", tube: "a", path: "/jobs/a.ts", display: "jobs/a.ts" }]);
  await until("the take is replaced", () => spares.size === 1);
  expect(started.length).toBe(2);

  // A second take within BURST_MS (of a spare still loading): the pool grows to two, one boot at a time.
  spares.take(file("b"));
  await until("the take is replaced", () => started.length === 3);
  expect(spares.size).toBe(1);
  started[2]!.say({ t: "loaded" });
  await until("the pool grows to two", () => spares.size === 2);
  expect(started.length).toBe(4);
  started[3]!.say({ t: "loaded" });

  // No more takes: back to one spare, the newest stopped.
  await until("the extras are stopped", () => spares.size === 1, SHRINK_AFTER_MS + 10_000);
  expect(started[3]!.killed).toBe("SIGTERM");
  expect(started[2]!.killed).toBeNull();
  spares.stop();
  expect(started[2]!.killed).toBe("SIGTERM");
}, 30_000);

test("a spare that keeps dying young is given up on with one event", async () => {
  const { spawn, started } = fakeSpawner();
  const events = new RunnerEvents();
  const seen: RunnerEvent[] = [];
  events.subscribe((e) => void seen.push(e));
  const spares = new Spares(spawn, events, 2);
  spares.ensure();
  for (let i = 0; i < 3; i++) {
    await until(`spare ${i + 1} started`, () => started.length === i + 1);
    started[i]!.exit(1);
  }
  await until("the give-up event", () => seen.some((e) => e.type === "runner.error"));
  expect(seen.filter((e) => e.type === "runner.error").length).toBe(1);
  expect(spares.size).toBe(0);
  spares.ensure();
  expect(started.length).toBe(3);
  expect(spares.take(file("a"))).toBeNull();
  spares.stop();
}, 30_000);
