/**
 * bench/runner/scale.ts's cold starts step by step: each start's steps read
 * from its worker.ready event's boot marks (put -> the supervisor starts a
 * worker -> it knows its tube -> module imported -> connected -> handler, and
 * the process's own start), and their table. Kept apart from the driver so
 * that each file stays under the house's 400 lines.
 */
import type { Ev, Run } from "./scale-processes.ts";

export const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

export const f = (x: number) => x.toFixed(1);

/** One cold start, step by step (ms): put -> the supervisor starts a worker -> it knows its tube -> module imported -> connected -> handler. */
export interface Steps {
  spare: boolean;
  /** The process's own start: process start -> worker code loaded (and, for a spare, connected). */
  load: number;
  launch: number;
  assign: number;
  import: number;
  connect: number;
  handler: number;
}

export function stepsOf(run: Run, tube: string, putAt: number, handlerAt: number): Steps | null {
  const last = (pred: (e: Ev) => boolean): Ev | undefined => {
    for (let i = run.events.length - 1; i >= 0; i--) if (pred(run.events[i]!)) return run.events[i];
    return undefined;
  };
  const start = last((e) => e.type === "worker.start" && e.tube === tube);
  const ready = last((e) => e.type === "worker.ready" && e.tube === tube);
  const b = ready?.boot as
    | { spare: boolean; process: number; loaded: number; assigned: number; imported: number; connected: number }
    | undefined;
  if (!start || !b || start.pid !== ready!.pid) return null;
  return {
    spare: b.spare,
    load: b.loaded - b.process,
    launch: start.time - putAt,
    assign: b.assigned - start.time,
    import: b.imported - b.assigned,
    connect: b.connected - b.imported,
    handler: handlerAt - b.connected,
  };
}

/** Where cold starts spend their time: p50 / p99 of each step, and how many were served by the spare. */
export function printSteps(title: string, steps: Steps[]): void {
  if (!steps.length) return;
  const bySpare = steps.filter((s) => s.spare).length;
  console.log(`\ncold starts ${title}, step by step (ms; ${bySpare} of ${steps.length} started from the spare):`);
  console.log("step                                   |    p50 |    p99 |    max");
  const line = (name: string, xs: number[]): void =>
    console.log(`${name.padEnd(38)} | ${f(pct(xs, 50)).padStart(6)} | ${f(pct(xs, 99)).padStart(6)} | ${f(Math.max(...xs)).padStart(6)}`);
  const rows: [string, Exclude<keyof Steps, "spare">][] = [
    ["put -> supervisor starts a worker", "launch"],
    ["-> the worker has its tube", "assign"],
    ["-> job module imported", "import"],
    ["-> connected, watching the tube", "connect"],
    ["-> handler starts (ready, reserve, stats)", "handler"],
    ["(its process: start -> worker code loaded)", "load"],
  ];
  for (const [name, key] of rows)
    line(
      name,
      steps.map((s) => s[key]),
    );
  for (const [name, sel] of [
    ["from the spare", steps.filter((s) => s.spare)],
    ["spawned", steps.filter((s) => !s.spare)],
  ] as const) {
    if (!sel.length) continue;
    const total = sel.map((s) => s.launch + s.assign + s.import + s.connect + s.handler);
    console.log(`total ${name} (${sel.length}): p50 ${f(pct(total, 50))}, max ${f(Math.max(...total))}`);
  }
}
