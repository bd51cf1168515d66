/**
 * Normalisation for differential transcripts. Only values that legitimately
 * differ between two correct servers are touched:
 *
 * - in a server `stats` document: pid, version, rusage-utime, rusage-stime,
 *   uptime, id (the random instance id), hostname, os, platform;
 * - `age`, `time-left` (stats-job) and `pause-time-left` (stats-tube), but
 *   only when the two servers' values differ by at most `slack` seconds:
 *   one, because the two servers' clocks tick independently, plus what the
 *   caller adds for how far one side's run fell behind the other's (a
 *   subject whose every command is a database round trip, on a loaded
 *   machine, reaches its stats-job later, and its job is older by then). A
 *   larger difference is kept and fails the comparison.
 *
 * After a change the `OK <bytes>` header is recomputed from the new body, so
 * the count stays consistent; a header that did not match its body in the
 * raw reply is flagged instead of being repaired.
 */

/** Keys of a server `stats` reply whose values vary between any two runs. */
export const VOLATILE_STATS_KEYS = [
  "pid",
  "version",
  "rusage-utime",
  "rusage-stime",
  "uptime",
  "id",
  "hostname",
  "os",
  "platform",
] as const;

/** Keys whose values are whole seconds measured on each server's own clock. */
export const CLOCK_KEYS = ["age", "time-left", "pause-time-left"] as const;

interface YamlReply {
  /** The YAML document between `OK n\r\n` and the final `\r\n`. */
  body: string;
}

/** Splits `OK n\r\n<body>\r\n`; null for any other reply. Bytes are latin1 strings. */
function parseOk(reply: string): YamlReply | null {
  const m = /^OK (\d+)\r\n/.exec(reply);
  if (!m) return null;
  const head = m[0].length;
  const n = Number(m[1]);
  // The wire reader returns exactly n + 2 bytes after the header line.
  if (reply.length !== head + n + 2 || !reply.endsWith("\r\n")) return null;
  return { body: reply.slice(head, head + n) };
}

function okReply(body: string): string {
  return `OK ${Buffer.byteLength(body, "latin1")}\r\n${body}\r\n`;
}

/** A YAML document that is a server-wide `stats` reply (its first key). */
function isServerStats(body: string): boolean {
  return body.startsWith("---\ncurrent-jobs-urgent: ");
}

/**
 * Normalises one raw reply: volatile values of a server `stats` document are
 * replaced by `<volatile>` and the byte count recomputed. Every other reply,
 * including stats-job (whose `id` is the job id) and stats-tube, is returned
 * unchanged. A malformed `OK` reply (count not matching its body) is marked.
 */
export function normalise(reply: string): string {
  if (!reply.startsWith("OK ")) return reply;
  const ok = parseOk(reply);
  if (!ok) return `<MALFORMED OK REPLY> ${reply}`;
  if (!isServerStats(ok.body)) return reply;
  let body = ok.body;
  for (const key of VOLATILE_STATS_KEYS) {
    body = body.replace(new RegExp(`^${key}: .*$`, "m"), `${key}: <volatile>`);
  }
  return okReply(body);
}

/**
 * Given the reference's reply and ours to the same step (both already
 * normalised), returns ours with each clock value (age, time-left,
 * pause-time-left) replaced by the reference's when the two differ by at most
 * `slack` seconds (default one). Everything else is left as it is.
 */
export function reconcileClock(expected: string, actual: string, slack = 1): string {
  if (expected === actual) return actual;
  const a = parseOk(expected);
  const b = parseOk(actual);
  if (!a || !b) return actual;
  let changed = false;
  let body = b.body;
  for (const key of CLOCK_KEYS) {
    const re = new RegExp(`^${key}: (-?\\d+)$`, "m");
    const ea = re.exec(a.body);
    const eb = re.exec(body);
    if (!ea || !eb || ea[1] === eb[1]) continue;
    if (Math.abs(Number(ea[1]) - Number(eb[1])) <= slack) {
      body = body.replace(re, `${key}: ${ea[1]}`);
      changed = true;
    }
  }
  return changed ? okReply(body) : actual;
}
