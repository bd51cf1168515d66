/**
 * beanrun's command line: `beanrun <command> [flags]`, whatever the runtime.
 * Each command lives in runtime/cli/<command>.ts (the operators' admin
 * commands in runtime/cli/admin/<command>.ts) and exports `main(argv)`.
 * The entry points (runtime/cli.ts for Bun, runtime/cli-deno.ts for Deno)
 * choose the runtime's adapter, then call `runCli`.
 */
import { VERSION } from "../version.ts";

type Command = (argv: string[]) => Promise<number | void>;

const commands: Record<string, () => Promise<{ main: Command }>> = {
  serve: () => import("./serve.ts"),
  run: () => import("./run.ts"),
  worker: () => import("./worker.ts"),
  build: () => import("./build.ts"),
  migrate: () => import("./migrate.ts"),
  init: () => import("./init.ts"),
  stats: () => import("./admin/stats.ts"),
  tubes: () => import("./admin/tubes.ts"),
  top: () => import("./admin/top.ts"),
  put: () => import("./admin/put.ts"),
  peek: () => import("./admin/peek.ts"),
  kick: () => import("./admin/kick.ts"),
  "kick-job": () => import("./admin/kick-job.ts"),
  delete: () => import("./admin/delete.ts"),
  "delete-buried": () => import("./admin/delete-buried.ts"),
  pause: () => import("./admin/pause.ts"),
  tail: () => import("./admin/tail.ts"),
};

function usage(): string {
  return [
    "usage: beanrun <command> [flags]",
    "       beanrun --version",
    "",
    "commands:",
    "  serve    run the beanstalkd-compatible server (beanstalkd's flags; -h for help)",
    "  run      the server plus one supervised worker process per jobs/<tube>.ts (-h for help)",
    "  worker   one tube's worker (started by run; or by hand with --server HOST:PORT; -h for help)",
    "  build    compile the runtime and every job into one executable, dist/beanrun (-h for help)",
    "  migrate  apply the PostgreSQL store's schema migrations (--store postgres://...)",
    "  init     create a project: package.json, tsconfig.json, jobs/hello.ts (-h for help)",
    "",
    "admin commands, against any beanstalkd-compatible server (-h for help):",
    "  (server: -s HOST:PORT, else $BEANRUN_SERVER, else 127.0.0.1:11300)",
    "  stats [TUBE]                  server or tube stats (--json)",
    "  tubes                         every tube's job counts, waiting workers, pauses (--json)",
    "  top                           live view with put/delete rates (--interval S, --count N)",
    "  put TUBE [BODY|-]             put a job (body from stdin if absent), print its id",
    "  peek ID | TUBE STATE          a job's stats and body; STATE: ready, delayed, buried (--json)",
    "  kick TUBE [N]                 kick up to N buried (else delayed) jobs",
    "  kick-job ID                   kick one buried or delayed job",
    "  delete ID...                  delete jobs",
    "  delete-buried TUBE [N|--all]  delete a tube's oldest buried jobs",
    "  pause TUBE SECONDS            pause a tube (0 ends the pause)",
    "  tail [TUBE] --http [HOST:]PORT  job outcomes as they happen, from run's console",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "-h" || name === "--help" || name === "help") {
    console.log(usage());
    return name ? 0 : 2;
  }
  if (name === "--version" || name === "-v" || name === "version") {
    console.log(`beanrun ${VERSION}`);
    return 0;
  }
  const load = commands[name];
  if (!load) {
    console.error(`beanrun: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const code = await (await load()).main(rest);
  return typeof code === "number" ? code : 0;
}

/**
 * A reader that stops early (`beanrun peek 1 | head -1`) closes the pipe: that
 * is the reader's choice, not an error, so the command ends quietly (exit 0)
 * instead of printing a stack for EPIPE, whether the write failed at once or later.
 */
function isBrokenPipe(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === "EPIPE";
}

/** Runs the command in `argv` and exits with its status (0 leaves the process to end by itself). */
export async function runCli(argv: string[]): Promise<void> {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: unknown) => {
      if (isBrokenPipe(e)) process.exit(0);
      throw e;
    });
  }
  let code: number;
  try {
    code = await main(argv);
  } catch (e) {
    if (isBrokenPipe(e)) process.exit(0);
    throw e;
  }
  if (code !== 0) process.exit(code);
}
