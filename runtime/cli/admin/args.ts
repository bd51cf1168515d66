/**
 * Flags and values for the admin commands: the shared parser (../flags.ts,
 * re-exported here under the names the commands use) and the checks of
 * counts and seconds. Anything wrong is a UsageError, which the command
 * turns into its usage text and exit code 2.
 */
import { UsageError } from "../flags.ts";

export { type FlagSpec, type ParsedArgs, parseFlags as parseArgs, UsageError } from "../flags.ts";

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
