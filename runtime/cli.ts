#!/usr/bin/env bun
/**
 * beanrun's command line: `beanrun <command> [flags]`.
 * Each command lives in runtime/cli/<command>.ts and exports `main(argv)`.
 */
export {};

type Command = (argv: string[]) => Promise<number | void>;

const commands: Record<string, () => Promise<{ main: Command }>> = {
  serve: () => import("./cli/serve.ts"),
};

function usage(): string {
  return [
    "usage: beanrun <command> [flags]",
    "",
    "commands:",
    "  serve    run the beanstalkd-compatible server (beanstalkd's flags; -h for help)",
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
