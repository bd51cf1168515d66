/**
 * The runner's log lines, on stdout: human-readable by default,
 *   2025-01-01T12:00:00.000Z info  email #12 done attempt=1 ms=3.1
 * or one JSON object per line with --log-format json:
 *   {"time":"...","level":"info","tube":"email","id":12,"event":"done","attempt":1,"ms":3.1}
 *
 * node:fs (the write at exit) is loaded only then: a worker process loads
 * this file at its start (see runner/load-job.ts).
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

/**
 * Lines gathered during one event-loop turn leave in one stdout write: at tens
 * of thousands of jobs a second a write per line costs a third of a worker's
 * time. What is pending when the process exits is written synchronously.
 */
let pending = "";
let flushScheduled = false;
const flush = (): void => {
  flushScheduled = false;
  if (!pending) return;
  const out = pending;
  pending = "";
  process.stdout.write(out);
};
let exitHookInstalled = false;
const stdoutSink: Sink = (line) => {
  pending += line + "\n";
  if (pending.length > 1 << 16) return flush();
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", () => {
      if (!pending) return;
      try {
        process.getBuiltinModule("node:fs").writeSync(1, pending);
      } catch {
        // stdout is gone: nothing more to do
      }
      pending = "";
    });
  }
};

const PADDED: Record<LogLevel, string> = { debug: "debug", info: "info ", warn: "warn ", error: "error" };

/** The current time as ISO 8601, formatted once per millisecond. */
let lastMs = -1;
let lastIso = "";
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

function human(v: unknown): string {
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return /[\s="]/.test(v) || v === "" ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  return JSON.stringify(v) ?? String(v);
}

export function createLogger(opts: { format?: LogFormat; level?: LogLevel; sink?: Sink } = {}, base: Record<string, unknown> = {}): Logger {
  const format = opts.format ?? "human";
  const min = RANK[opts.level ?? "info"];
  const sink = opts.sink ?? stdoutSink;
  const write = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[level] < min) return;
    const time = isoNow();
    if (format === "json") {
      const all: Record<string, unknown> = { time, level, ...base, ...fields };
      for (const k of Object.keys(all)) if (all[k] instanceof Error) all[k] = (all[k] as Error).message;
      all.msg = msg;
      sink(JSON.stringify(all));
      return;
    }
    // Human lines: tube and id lead, the other fields follow as key=value (no merged object: this runs per job).
    const tube = fields?.tube ?? base.tube;
    const id = fields?.id ?? base.id;
    let line = time + " " + PADDED[level];
    if (tube !== undefined) line += " " + String(tube);
    if (id !== undefined) line += " #" + String(id);
    line += " " + msg;
    for (const k in base) {
      if (k === "tube" || k === "id" || (fields && k in fields)) continue;
      const v = base[k];
      if (v !== undefined) line += " " + k + "=" + human(v);
    }
    if (fields) {
      for (const k in fields) {
        if (k === "tube" || k === "id") continue;
        const v = fields[k];
        // An event's error object: its message is already in the sentence; the stack is for JSON lines.
        if (k === "error" && typeof v === "object" && v !== null && !(v instanceof Error)) continue;
        if (v !== undefined) line += " " + k + "=" + human(v);
      }
    }
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
