/**
 * bench/runner/run.ts's command line: its options, their defaults and what
 * --quick changes, and the usage message. Kept apart from the driver so that
 * the file stays under the house's 400 lines (issue 8).
 */

export type System = "beanrun" | "bullmq";

export interface Options {
  quick: boolean;
  rounds: number;
  jobs: number;
  warmup: number;
  concurrency: number[];
  rate: number;
  latSecs: number;
  latConcurrency: number;
  only: ("throughput" | "latency")[];
  logLevel: string;
  systems: System[];
  chunk: number;
}

/** The defaults, before --quick and the flags given. */
function defaults(): Options {
  return {
    quick: false,
    rounds: 3,
    jobs: 30_000,
    warmup: 5_000,
    concurrency: [1, 10, 50],
    rate: 300,
    latSecs: 4,
    latConcurrency: 10,
    only: ["throughput", "latency"],
    logLevel: "warn",
    systems: ["bullmq", "beanrun"],
    chunk: 500,
  };
}

/** --quick shortens what was not given explicitly. */
function applyQuick(o: Options, given: ReadonlySet<string>): void {
  if (!o.quick) return;
  if (!given.has("--rounds")) o.rounds = 1;
  if (!given.has("--jobs")) o.jobs = 10_000;
  if (!given.has("--warmup")) o.warmup = 2_000;
  if (!given.has("--lat-secs")) o.latSecs = 2;
}

export function parseArgs(argv: string[]): Options {
  const o = defaults();
  const set = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    const num = (): number => {
      const v = Number(val());
      if (!Number.isFinite(v) || v <= 0) usage(`${a} needs a positive number`);
      return v;
    };
    set.add(a);
    switch (a) {
      case "--quick":
        o.quick = true;
        break;
      case "--rounds":
        o.rounds = Math.round(num());
        break;
      case "--jobs":
        o.jobs = Math.round(num());
        break;
      case "--warmup":
        o.warmup = Math.round(num());
        break;
      case "--concurrency":
        o.concurrency = val()
          .split(",")
          .map(Number)
          .filter((n) => n > 0);
        break;
      case "--rate":
        o.rate = num();
        break;
      case "--lat-secs":
        o.latSecs = num();
        break;
      case "--lat-concurrency":
        o.latConcurrency = Math.round(num());
        break;
      case "--only":
        o.only = val().split(",") as Options["only"];
        break;
      case "--log-level":
        o.logLevel = val();
        break;
      case "--systems":
        o.systems = val().split(",") as System[];
        break;
      case "--chunk":
        o.chunk = Math.round(num());
        break;
      case "-h":
      case "--help":
        usage();
        break;
      default:
        usage(`unknown argument ${a}`);
    }
  }
  applyQuick(o, set);
  return o;
}

export function usage(err?: string): never {
  if (err) console.error(`bench/runner: ${err}`);
  console.error(`usage: bun bench/runner/run.ts [--quick] [--rounds N] [--jobs N] [--warmup N] [--concurrency 1,10,50]
       [--rate R] [--lat-secs S] [--lat-concurrency C] [--only throughput,latency] [--log-level warn|info]
       [--systems bullmq,beanrun] [--chunk N]`);
  process.exit(err ? 2 : 0);
}
