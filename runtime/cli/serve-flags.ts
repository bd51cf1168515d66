/**
 * beanstalkd's command-line flags, parsed the way its getopt-like parser
 * does: "-p 11300" and "-p11300" are the same, flags without values can be
 * grouped ("-nV"). Long options are beanrun's own.
 */
import process from "node:process";
import type { ServerOptions } from "../server/options.ts";

export const SERVE_USAGE = `Use: beanrun serve [OPTIONS]

Options:
 -b DIR   write-ahead log directory
 -f MS    fsync at most once every MS milliseconds (use -f0 for "always fsync")
 -F       never fsync
 -l ADDR  listen on address (default is 127.0.0.1; beanstalkd's is 0.0.0.0)
 -p PORT  listen on port (default is 11300; 0 picks a free port)
 -u USER  become user and group
 -z BYTES set the maximum job size in bytes (default is 65535);
            max allowed is 1073741824 bytes
 -s BYTES set the size of each write-ahead log file (default is 10485760);
            will be rounded up to a multiple of 4096 bytes
 -c       compact the binlog (default)
 -n       do not compact the binlog
 -v       show version information
 -V       increase verbosity
 -h       show this help
 --compat 1.12|1.13   wire format (default 1.13; 1.12 does not quote YAML strings)
 --http [ADDR:]PORT   serve the console, /stats.json and /metrics (Prometheus);
                      on 127.0.0.1 unless ADDR is given (-l does not apply)
 --http-token TOKEN   token for the console's actions and job bodies (else
                      $BEANRUN_HTTP_TOKEN); without one, a console off
                      loopback is read-only and hides bodies
 --http-allow-host NAME  also accept NAME in the Host header (repeatable;
                      loopback names and the bound address always are)
 --store postgres://USER@HOST:PORT/DB   keep the jobs in PostgreSQL, shared by any
                      number of beanrun front ends (instead of memory or -b)
`;

export interface ServeFlags {
  action: "serve" | "help" | "version";
  options: ServerOptions;
  user?: string;
  verbose: number;
}

export class FlagError extends Error {}

const MAX_JOB_SIZE = 1073741824;

function int(flag: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v)) throw new FlagError(`-${flag}: "${v}" is not a number`);
  const n = Number(v);
  if (n < min || n > max) throw new FlagError(`-${flag}: ${v} is out of range (${min}..${max})`);
  return n;
}

export function parseServeFlags(argv: readonly string[], env: Record<string, string | undefined> = process.env): ServeFlags {
  const f: ServeFlags = { action: "serve", options: {}, verbose: 0 };
  const o = f.options;
  if (env.BEANRUN_HTTP_TOKEN) o.httpToken = env.BEANRUN_HTTP_TOKEN;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--compat") {
      const v = argv[++i];
      if (v !== "1.12" && v !== "1.13") throw new FlagError(`--compat: expected 1.12 or 1.13, got "${v ?? ""}"`);
      o.compat = v;
      continue;
    }
    if (arg.startsWith("--compat=")) {
      const v = arg.slice(9);
      if (v !== "1.12" && v !== "1.13") throw new FlagError(`--compat: expected 1.12 or 1.13, got "${v}"`);
      o.compat = v;
      continue;
    }
    if (arg === "--http" || arg.startsWith("--http=")) {
      const v = arg === "--http" ? argv[++i] : arg.slice(7);
      const m = /^(?:(.+):)?(\d+)$/.exec(v ?? "");
      if (!m) throw new FlagError(`--http: expected [ADDR:]PORT, got "${v ?? ""}"`);
      if (m[1]) o.httpHost = m[1];
      o.httpPort = int("-http", m[2]!, 0, 65535);
      continue;
    }
    if (arg === "--http-token" || arg.startsWith("--http-token=")) {
      const v = arg === "--http-token" ? argv[++i] : arg.slice(13);
      if (!v) throw new FlagError("--http-token requires a value");
      o.httpToken = v;
      continue;
    }
    if (arg === "--http-allow-host" || arg.startsWith("--http-allow-host=")) {
      const v = arg === "--http-allow-host" ? argv[++i] : arg.slice(18);
      if (!v || /[\s/]/.test(v)) throw new FlagError(`--http-allow-host: expected a host name, got "${v ?? ""}"`);
      (o.httpAllowHosts ??= []).push(v);
      continue;
    }
    if (arg === "--store" || arg.startsWith("--store=")) {
      const v = arg === "--store" ? argv[++i] : arg.slice(8);
      if (!v || !/^postgres(ql)?:\/\//.test(v)) throw new FlagError(`--store: expected postgres://..., got "${v ?? ""}"`);
      o.store = v;
      continue;
    }
    if (arg === "--help") {
      f.action = "help";
      continue;
    }
    if (arg === "--version") {
      f.action = "version";
      continue;
    }
    if (!arg.startsWith("-") || arg.length < 2) throw new FlagError(`unknown argument "${arg}"`);
    for (let k = 1; k < arg.length; k++) {
      const flag = arg[k]!;
      const value = (): string => {
        const rest = arg.slice(k + 1);
        k = arg.length;
        if (rest) return rest;
        const next = argv[++i];
        if (next === undefined) throw new FlagError(`-${flag} requires a value`);
        return next;
      };
      switch (flag) {
        case "b":
          o.walDir = value();
          break;
        case "f":
          o.fsyncMs = int("f", value(), 0, 2 ** 31 - 1);
          o.noFsync = false;
          break;
        case "F":
          o.noFsync = true;
          break;
        case "l":
          o.host = value();
          break;
        case "p":
          o.port = int("p", value(), 0, 65535);
          break;
        case "u":
          f.user = value();
          break;
        case "z": {
          const n = int("z", value(), 0, Number.MAX_SAFE_INTEGER);
          if (n > MAX_JOB_SIZE) console.error(`beanrun: maximum job size was set to ${MAX_JOB_SIZE}`);
          o.maxJobSize = Math.min(n, MAX_JOB_SIZE);
          break;
        }
        case "s":
          o.walFileSize = int("s", value(), 1, 2 ** 31 - 1);
          break;
        case "c":
          o.compact = true;
          break;
        case "n":
          o.compact = false;
          break;
        case "v":
          f.action = "version";
          break;
        case "V":
          f.verbose++;
          f.options.verbose = f.verbose;
          break;
        case "h":
          f.action = "help";
          break;
        default:
          throw new FlagError(`unknown flag -${flag}`);
      }
    }
  }
  return f;
}
