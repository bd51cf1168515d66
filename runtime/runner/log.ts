/**
 * The runner's log lines, on stdout: human-readable by default,
 *   2025-01-01T12:00:00.000Z info  email #12 done attempt=1 ms=3.1
 * or one JSON object per line with --log-format json:
 *   {"time":"...","level":"info","tube":"email","id":12,"event":"done","attempt":1,"ms":3.1}
 */
import type { JobLogger } from "./define.ts";

export type LogFormat = "human" | "json";
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger extends JobLogger {
  /** Whether lines of this level are written (lets hot paths skip building their fields). */
  enabled(level: LogLevel): boolean;
  /** A logger whose lines carry these fields too. */
  child(fields: Record<string, unknown>): Logger;
}

export type Sink = (line: string) => void;

const stdoutSink: Sink = (line) => {
  process.stdout.write(line + "\n");
};

function human(v: unknown): string {
  if (typeof v === "string") return /[\s="]/.test(v) || v === "" ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  return JSON.stringify(v) ?? String(v);
}

export function createLogger(
  opts: { format?: LogFormat; level?: LogLevel; sink?: Sink } = {},
  base: Record<string, unknown> = {},
): Logger {
  const format = opts.format ?? "human";
  const min = RANK[opts.level ?? "info"];
  const sink = opts.sink ?? stdoutSink;
  const write = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[level] < min) return;
    const time = new Date().toISOString();
    const all: Record<string, unknown> = { ...base, ...fields };
    if (format === "json") {
      for (const k of Object.keys(all)) if (all[k] instanceof Error) all[k] = (all[k] as Error).message;
      sink(JSON.stringify({ time, level, ...all, msg }));
      return;
    }
    const { tube, id, ...rest } = all;
    let head = `${time} ${level.padEnd(5)}`;
    if (tube !== undefined) head += ` ${tube}`;
    if (id !== undefined) head += ` #${id}`;
    let line = `${head} ${msg}`;
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) line += ` ${k}=${human(v)}`;
    sink(line);
  };
  return {
    enabled: (level) => RANK[level] >= min,
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger(opts, { ...base, ...fields }),
  };
}

export function parseLogFormat(v: string | undefined): LogFormat {
  if (v === "human" || v === "json") return v;
  throw new Error(`--log-format: expected human or json, got "${v ?? ""}"`);
}

export function parseLogLevel(v: string | undefined): LogLevel {
  if (v === "debug" || v === "info" || v === "warn" || v === "error") return v;
  throw new Error(`--log-level: expected debug, info, warn or error, got "${v ?? ""}"`);
}
