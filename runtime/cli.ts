#!/usr/bin/env bun
/**
 * beanrun's command line: `beanrun <command> [flags]`.
 * Each command lives in runtime/cli/<command>.ts and exports `main(argv)`.
 */
export {};

type Command = (argv: string[]) => Promise<number | void>;

const commands: Record<string, () => Promise<{ main: Command }>> = {
  serve: () => import("./cli/serve.ts"),
  run: () => import("./cli/run.ts"),
  worker: () => import("./cli/worker.ts"),
  build: () => import("./cli/build.ts"),
};

function usage(): string {
  return [
    "usage: beanrun <command> [flags]",
    "",
    "commands:",
    "  serve    run the beanstalkd-compatible server (beanstalkd's flags; -h for help)",
    "  run      the server plus one supervised worker process per jobs/<tube>.ts (-h for help)",
    "  worker   one tube's worker (started by run; or by hand with --server HOST:PORT)",
    "  build    compile the runtime and every job into one executable, dist/beanrun",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "-h" || name === "--help" || name === "help") {
    console.log(usage());
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    console.error(`beanrun: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const code = await (await load()).main(rest);
  return typeof code === "number" ? code : 0;
}

const code = await main(process.argv.slice(2));
if (code !== 0) process.exit(code);
