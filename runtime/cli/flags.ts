/**
 * The one flag parser every command uses (serve, run, worker, build, init and
 * the admin commands), on node:util's parseArgs, which Bun, Deno and Node all
 * build in. parseArgs gives the grammar (`--flag value`, `--flag=value`,
 * `-s value`, beanstalkd's `-p11300` and grouped `-nVV`, `--` ending flags,
 * a lone `-` as a positional); this module adds the checks and the messages:
 * an unknown flag is named in full as typed, a missing value (a flag where
 * the value should be) or a value given to a switch is a UsageError, and one-letter flags (beanstalkd's) are only
 * accepted in their one-dash form. Commands turn a UsageError into their
 * usage text and exit code 2 (see `usageFailure`).
 *
 * A command declares its flags as a list, so a command that takes another's
 * flags (run takes serve's) concatenates the lists, and adding a flag is one
 * line in that list.
 *
 * node:util is loaded only for what the plain form below does not cover:
 * `run` starts its workers with `--name value` and `--switch` alone, and under
 * Bun loading node:util costs a worker process's start about 7 ms of CPU
 * (see runner/load-job.ts). The plain form gives what parseArgs would.
 */

export class UsageError extends Error {}

export interface FlagSpec {
  /** Long name without dashes ("server"), or a one-letter name for a flag that only has the short form ("p"). */
  name: string;
  /** One-letter alias without the dash ("s"). */
  short?: string;
  /** True when the flag takes a value; false for a switch. */
  value: boolean;
}

export interface ParsedArgs {
  /** Values of flags that take one, by name (the last occurrence wins). */
  values: ReadonlyMap<string, string>;
  /** Switches that were given, by name. */
  switches: ReadonlySet<string>;
  /** Every flag in command-line order, for parsers where order or repetition matters (-VV; -f then -F). */
  flags: ReadonlyArray<{ name: string; value?: string }>;
  positionals: readonly string[];
}

export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  return plainFlags(argv, specs) ?? parseWithUtil(argv, specs);
}

/**
 * Long flags only, each a known switch or a known flag followed by its value,
 * no value that starts with "-", no `=`, no positionals: else null, and
 * parseArgs reads the line (and words any error).
 */
function plainFlags(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs | null {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const flags: { name: string; value?: string }[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const spec = a.startsWith("--") && !a.includes("=") ? specs.find((s) => s.name === a.slice(2) && s.name.length > 1) : undefined;
    if (!spec) return null;
    if (!spec.value) {
      switches.add(spec.name);
      flags.push({ name: spec.name });
      continue;
    }
    const v = argv[++i];
    if (v === undefined || v.startsWith("-")) return null;
    values.set(spec.name, v);
    flags.push({ name: spec.name, value: v });
  }
  return { values, switches, flags, positionals: [] };
}

function parseWithUtil(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const { parseArgs } = process.getBuiltinModule("node:util");
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple: true }> = {};
  for (const s of specs) options[s.name] = { type: s.value ? "string" : "boolean", multiple: true, ...(s.short ? { short: s.short } : {}) };
  const byName = new Map(specs.map((s) => [s.name, s]));
  let tokens;
  try {
    ({ tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const flags: { name: string; value?: string }[] = [];
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === "positional") positionals.push(t.value);
    if (t.kind !== "option") continue;
    const spec = byName.get(t.name);
    const typed = t.inlineValue && t.rawName.startsWith("--") ? `${t.rawName}=${t.value}` : t.rawName;
    // "--p" is not beanstalkd's "-p": one-letter names exist only as short flags.
    if (!spec || (t.rawName.startsWith("--") && spec.name.length === 1)) throw new UsageError(`unknown flag "${typed}"`);
    if (spec.value) {
      if (t.value === undefined) throw new UsageError(`${t.rawName} requires a value`);
      // "--jobs --watch" forgot the value; "--jobs=-x" or "-b-x" says it on purpose. ("-1" is a value, checked by the command.)
      if (!t.inlineValue && /^-[A-Za-z-]/.test(t.value)) {
        throw new UsageError(
          `${t.rawName} requires a value (got the flag "${t.value}"; write ${t.rawName}${t.rawName.startsWith("--") ? "=" : ""}${t.value} if that is the value)`,
        );
      }
      values.set(spec.name, t.value);
      flags.push({ name: spec.name, value: t.value });
    } else {
      if (t.value !== undefined) throw new UsageError(`${t.rawName} takes no value (got "${t.value}")`);
      switches.add(spec.name);
      flags.push({ name: spec.name });
    }
  }
  return { values, switches, flags, positionals };
}

/** How many times a switch was given (-VV is 2). */
export function countOf(args: ParsedArgs, name: string): number {
  let n = 0;
  for (const f of args.flags) if (f.name === name) n++;
  return n;
}

/** The message and exit code for bad usage: "beanrun CMD: MESSAGE", a blank line, the usage text; exit 2. */
export function usageFailure(command: string, e: UsageError, usage: string): number {
  console.error(`beanrun ${command}: ${e.message}\n\n${usage}`);
  return 2;
}

/**
 * A command's first step: its flags, or (on a UsageError) the usage failure
 * printed and its exit code, which the command returns as it is. Any other
 * error is a bug and propagates.
 */
export function parseOrUsage<T extends object>(command: string, usage: string, parse: (argv: string[]) => T, argv: string[]): T | number {
  try {
    return parse(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return usageFailure(command, e, usage);
  }
}

export const HELP: FlagSpec = { name: "help", short: "h", value: false };
