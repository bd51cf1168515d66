/**
 * The flag parser's plain form (runtime/cli/flags.ts), which reads the
 * command lines `run` starts its workers with without loading node:util:
 * it gives what parseArgs gives, and every other line (short flags, `=`,
 * `--`, a missing or dash-led value, an unknown flag, a positional) still
 * goes through parseArgs with its grammar and its errors. And the worker
 * bundle's static imports: a worker's start loads no node: module.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { workerBundle } from "../../runtime/adapters/worker-bundle.ts";
import { type FlagSpec, parseFlags, UsageError } from "../../runtime/cli/flags.ts";

const SPECS: FlagSpec[] = [
  { name: "file", value: true },
  { name: "server", short: "s", value: true },
  { name: "spare", value: false },
  { name: "p", value: true },
];

const plain = (argv: string[]) => {
  const a = parseFlags(argv, SPECS);
  return { values: Object.fromEntries(a.values), switches: [...a.switches], flags: a.flags, positionals: a.positionals };
};

test("the plain form: long flags with values and switches, the last value wins, in order", () => {
  expect(plain(["--spare", "--server", "127.0.0.1:11300", "--file", "/a.ts", "--server", "h:1"])).toEqual({
    values: { server: "h:1", file: "/a.ts" },
    switches: ["spare"],
    flags: [
      { name: "spare" },
      { name: "server", value: "127.0.0.1:11300" },
      { name: "file", value: "/a.ts" },
      { name: "server", value: "h:1" },
    ],
    positionals: [],
  });
  expect(plain([])).toEqual({ values: {}, switches: [], flags: [], positionals: [] });
});

test("everything else is parseArgs's: the same results and the same errors as before", () => {
  expect(plain(["-s", "h:1", "--file=/a.ts", "-p11300", "x"])).toEqual({
    values: { server: "h:1", file: "/a.ts", p: "11300" },
    switches: [],
    flags: [
      { name: "server", value: "h:1" },
      { name: "file", value: "/a.ts" },
      { name: "p", value: "11300" },
    ],
    positionals: ["x"],
  });
  expect(plain(["--", "--spare"]).positionals).toEqual(["--spare"]);
  expect(plain(["--file", "-1"]).values).toEqual({ file: "-1" });
  const refused = (argv: string[]): string => {
    try {
      parseFlags(argv, SPECS);
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      return (e as Error).message;
    }
    throw new Error(`accepted ${argv.join(" ")}`);
  };
  expect(refused(["--file"])).toBe("--file requires a value");
  expect(refused(["--file", "--spare"])).toContain('--file requires a value (got the flag "--spare"');
  expect(refused(["--nope"])).toBe('unknown flag "--nope"');
  expect(refused(["--p", "1"])).toBe('unknown flag "--p"');
  expect(refused(["--spare=yes"])).toBe('--spare takes no value (got "yes")');
});

test("the worker bundle imports no node: module at its start but node:process (the rest are loaded when used)", async () => {
  let bundle = workerBundle();
  for (const end = Date.now() + 60_000; !bundle; bundle = workerBundle()) {
    if (Date.now() > end) throw new Error("the worker bundle was not built within 60 s");
    await Bun.sleep(50);
  }
  const text = readFileSync(bundle, "utf8");
  const imported = [...text.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
  expect(imported).toEqual(["process"]);
  expect(text).toContain("function plainFlags(");
});
