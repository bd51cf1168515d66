/**
 * Flag parsing for the admin commands: `--flag value`, `--flag=value`,
 * `-s value`, boolean switches, `--` to end flags. A lone `-` is a
 * positional (it means stdin for `put`). Anything wrong is a UsageError,
 * which the command turns into its usage text and exit code 2.
 */

export class UsageError extends Error {}

export interface FlagSpec {
  /** Long name without dashes, e.g. "server". */
  name: string;
  /** One-letter alias without the dash, e.g. "s". */
  short?: string;
  /** True when the flag takes a value; false for a switch. */
  value: boolean;
}

export interface ParsedArgs {
  /** Values of flags that take one, by long name (the last occurrence wins). */
  values: ReadonlyMap<string, string>;
  /** Switches that were given, by long name. */
  switches: ReadonlySet<string>;
  positionals: readonly string[];
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const positionals: string[] = [];
  const find = (arg: string): FlagSpec | undefined =>
    arg.startsWith("--") ? specs.find((s) => s.name === arg.slice(2)) : specs.find((s) => s.short === arg.slice(1));

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-" || !arg.startsWith("-")) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const key = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = find(key);
    if (!spec) throw new UsageError(`unknown flag "${key}"`);
    if (!spec.value) {
      if (eq > 0) throw new UsageError(`${key} takes no value`);
      switches.add(spec.name);
      continue;
    }
    const v = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (v === undefined) throw new UsageError(`${key} requires a value`);
    values.set(spec.name, v);
  }
  return { values, switches, positionals };
}

/** A non-negative integer (ids, priorities, seconds), or a UsageError naming `what`. */
export function parseCount(what: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${what} must be a non-negative integer, got "${text}"`);
  const n = Number(text);
  if (n > max) throw new UsageError(`${what} must be at most ${max}, got ${text}`);
  return n;
}

/** A positive number of seconds that may be fractional (top's refresh interval). */
export function parseSeconds(what: string, text: string): number {
  const n = /^\d+(\.\d+)?$|^\.\d+$/.test(text) ? Number(text) : NaN;
  if (!(n > 0)) throw new UsageError(`${what} must be a positive number of seconds, got "${text}"`);
  return n;
}
