/**
 * bench/run.ts's command line: its options, their defaults and what --quick
 * changes, and the usage message. Kept apart from the driver so that the
 * file stays under the house's 400 lines (issue 8).
 */
import { resolve } from "node:path";
import { parseArgs as parseFlags } from "node:util";

export interface Options {
  quick: boolean;
  only: string[];
  rounds: number;
  secs: number;
  warmup: number;
  jobs: number;
  fillRounds: number;
  maxSecs: number;
  serverCpu: string;
  genCpu: string;
  list: boolean;
  /** Another checkout of beanrun that takes beanstalkd's place as the reference (before/after comparisons). */
  reference: string;
  /** Most seconds of un-measured load while the server's JIT compiler threads are still busy. */
  settleMax: number;
}

/** Defaults, then what --quick changes when the option itself is not given. */
const DEFAULTS = {
  rounds: 3,
  secs: 2,
  warmup: 0.5,
  jobs: 1_000_000,
  fillRounds: 2,
  maxSecs: 40,
  settleMax: 10,
};
const QUICK: typeof DEFAULTS = { rounds: 1, secs: 0.6, warmup: 0.25, jobs: 100_000, fillRounds: 1, maxSecs: 6, settleMax: 4 };

export function parseArgs(argv: string[]): Options {
  const v = (() => {
    try {
      return parseFlags({
        args: argv,
        strict: true,
        allowPositionals: false,
        options: {
          quick: { type: "boolean" },
          only: { type: "string" },
          rounds: { type: "string" },
          secs: { type: "string" },
          warmup: { type: "string" },
          jobs: { type: "string" },
          "fill-rounds": { type: "string" },
          "max-secs": { type: "string" },
          "server-cpu": { type: "string" },
          "gen-cpu": { type: "string" },
          list: { type: "boolean" },
          reference: { type: "string" },
          "settle-max": { type: "string" },
          help: { type: "boolean", short: "h" },
        },
      }).values;
    } catch (e) {
      usage((e as Error).message);
    }
  })();
  if (v.help) usage();
  const base = v.quick ? QUICK : DEFAULTS;
  const positive = (flag: string, x: string | undefined, dflt: number): number => {
    if (x === undefined) return dflt;
    const n = Number(x);
    if (!Number.isFinite(n) || n <= 0) usage(`--${flag} needs a positive number`);
    return n;
  };
  const any = (x: string | undefined, dflt: number): number => (x === undefined ? dflt : Number(x));
  return {
    quick: v.quick ?? false,
    only: (v.only ?? "")
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
    rounds: Math.round(positive("rounds", v.rounds, base.rounds)),
    secs: positive("secs", v.secs, base.secs),
    warmup: any(v.warmup, base.warmup),
    jobs: Math.round(positive("jobs", v.jobs, base.jobs)),
    fillRounds: Math.round(positive("fill-rounds", v["fill-rounds"], base.fillRounds)),
    maxSecs: positive("max-secs", v["max-secs"], base.maxSecs),
    serverCpu: v["server-cpu"] ?? "0",
    genCpu: v["gen-cpu"] ?? "1",
    list: v.list ?? false,
    reference: v.reference === undefined ? "" : resolve(v.reference),
    settleMax: any(v["settle-max"], base.settleMax),
  };
}

export function usage(err?: string): never {
  if (err) console.error(`bench: ${err}`);
  console.error(`usage: bun bench/run.ts [--quick] [--only GROUPS|IDS] [--rounds N] [--secs S] [--warmup S]
                        [--jobs N] [--fill-rounds N] [--max-secs S] [--server-cpu N] [--gen-cpu N] [--list]
                        [--reference DIR] [--settle-max S]
groups: cycle, pipe, fill, wal (or workload ids / id prefixes; --list shows them)`);
  process.exit(err ? 2 : 0);
}
