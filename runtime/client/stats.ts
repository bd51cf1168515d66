/**
 * Typed views of the stats, stats-tube and stats-job replies. Keys keep the
 * protocol's names (`st["current-jobs-ready"]`, `st.pri`). Numeric values are
 * numbers, `draining` is a boolean, names and versions stay strings. Keys the
 * types do not list (a newer server's) are still present, converted the same
 * way. Every object also carries `raw`, a non-enumerable map of the values as
 * the server sent them (quotes removed), so `toEqual`/spreads see only the
 * typed fields.
 */
import { parseYamlMap } from "./yaml.ts";

export type RawStats = Readonly<Record<string, string>>;

interface HasRaw {
  /** Every key as the server sent it, values unconverted (non-enumerable). */
  readonly raw: RawStats;
}

export type JobState = "ready" | "delayed" | "reserved" | "buried";

/** stats-job <id> */
export interface JobStats extends HasRaw {
  id: number;
  tube: string;
  state: JobState;
  pri: number;
  age: number;
  delay: number;
  ttr: number;
  "time-left": number;
  file: number;
  reserves: number;
  timeouts: number;
  releases: number;
  buries: number;
  kicks: number;
}

/** stats-tube <tube> */
export interface TubeStats extends HasRaw {
  name: string;
  "current-jobs-urgent": number;
  "current-jobs-ready": number;
  "current-jobs-reserved": number;
  "current-jobs-delayed": number;
  "current-jobs-buried": number;
  "total-jobs": number;
  "current-using": number;
  "current-watching": number;
  "current-waiting": number;
  "cmd-delete": number;
  "cmd-pause-tube": number;
  pause: number;
  "pause-time-left": number;
}

/** stats */
export interface ServerStats extends HasRaw {
  "current-jobs-urgent": number;
  "current-jobs-ready": number;
  "current-jobs-reserved": number;
  "current-jobs-delayed": number;
  "current-jobs-buried": number;
  "cmd-put": number;
  "cmd-peek": number;
  "cmd-peek-ready": number;
  "cmd-peek-delayed": number;
  "cmd-peek-buried": number;
  "cmd-reserve": number;
  "cmd-reserve-with-timeout": number;
  "cmd-delete": number;
  "cmd-release": number;
  "cmd-use": number;
  "cmd-watch": number;
  "cmd-ignore": number;
  "cmd-bury": number;
  "cmd-kick": number;
  "cmd-touch": number;
  "cmd-stats": number;
  "cmd-stats-job": number;
  "cmd-stats-tube": number;
  "cmd-list-tubes": number;
  "cmd-list-tube-used": number;
  "cmd-list-tubes-watched": number;
  "cmd-pause-tube": number;
  "job-timeouts": number;
  "total-jobs": number;
  "max-job-size": number;
  "current-tubes": number;
  "current-connections": number;
  "current-producers": number;
  "current-workers": number;
  "current-waiting": number;
  "total-connections": number;
  pid: number;
  version: string;
  "rusage-utime": number;
  "rusage-stime": number;
  uptime: number;
  "binlog-oldest-index": number;
  "binlog-current-index": number;
  "binlog-records-migrated": number;
  "binlog-records-written": number;
  "binlog-max-size": number;
  draining: boolean;
  /** A random id for this server process (hex). */
  id: string;
  hostname: string;
  os: string;
  platform: string;
}

type Kind = "job" | "tube" | "server";

/** Keys whose values are text even when they look like numbers (a tube may be named "42"). */
const TEXT: Readonly<Record<Kind, ReadonlySet<string>>> = {
  job: new Set(["tube", "state"]),
  tube: new Set(["name"]),
  server: new Set(["version", "id", "hostname", "os", "platform"]),
};

const NUMBER = /^-?\d+(\.\d+)?$/;

function convert<T extends HasRaw>(kind: Kind, yaml: string): T {
  const raw = parseYamlMap(yaml);
  const text = TEXT[kind];
  const out: Record<string, string | number | boolean> = {};
  for (const key in raw) {
    const v = raw[key]!;
    if (text.has(key)) out[key] = v;
    else if (NUMBER.test(v)) out[key] = Number(v);
    else if (v === "true" || v === "false") out[key] = v === "true";
    else out[key] = v;
  }
  Object.defineProperty(out, "raw", { value: Object.freeze(raw), enumerable: false });
  return out as unknown as T;
}

export function parseJobStats(yaml: string): JobStats {
  return convert<JobStats>("job", yaml);
}

export function parseTubeStats(yaml: string): TubeStats {
  return convert<TubeStats>("tube", yaml);
}

export function parseServerStats(yaml: string): ServerStats {
  return convert<ServerStats>("server", yaml);
}
