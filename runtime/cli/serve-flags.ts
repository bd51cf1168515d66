/**
 * beanstalkd's command-line flags for `serve` (and `run`'s embedded server),
 * in beanstalkd's forms: "-p 11300" and "-p11300" are the same, switches can
 * be grouped ("-nV", "-VV"), the last of -f/-F wins. Long options are
 * beanrun's own. Parsing is the shared parser's (flags.ts); this module
 * declares the flags (SERVE_FLAGS, which run adds to its own) and turns them
 * into ServerOptions.
 */
import process from "node:process";
import type { ServerOptions } from "../server/options.ts";
import { type FlagSpec, HELP, type ParsedArgs, parseFlags, UsageError } from "./flags.ts";

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
 --http-allow-host NAME  also accept NAME in the Host header (repeatable, or
                      $BEANRUN_HTTP_ALLOW_HOST, comma-separated; loopback
                      names and the bound address always are)
 --store postgres://USER@HOST:PORT/DB   keep the jobs in PostgreSQL, shared by any
                      number of beanrun front ends (instead of memory or -b)
`;

export interface ServeFlags {
  action: "serve" | "help" | "version";
  options: ServerOptions;
  user?: string;
  verbose: number;
}

/** Every flag serve takes; one entry per flag, so adding one is one line here and one case below. */
export const SERVE_FLAGS: readonly FlagSpec[] = [
  ...["b", "f", "l", "p", "u", "z", "s"].map((name) => ({ name, short: name, value: true })),
  ...["F", "c", "n", "v", "V"].map((name) => ({ name, short: name, value: false })),
  { name: "compat", value: true },
  { name: "http", value: true },
  { name: "http-token", value: true },
  { name: "http-allow-host", value: true },
  { name: "store", value: true },
  { name: "version", value: false },
  HELP,
];

const MAX_JOB_SIZE = 1073741824;

function int(flag: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag}: "${v}" is not a number`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`${flag}: ${v} is out of range (${min}..${max})`);
  return n;
}

/** `beanrun serve ARGS`: no positionals. */
export function parseServeFlags(argv: readonly string[], env: Record<string, string | undefined> = process.env): ServeFlags {
  const args = parseFlags(argv, SERVE_FLAGS);
  if (args.positionals.length) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
  return serveFlagsFrom(args, env);
}

/** The server's settings from flags parsed with SERVE_FLAGS among others (run's), in command-line order. */
export function serveFlagsFrom(args: ParsedArgs, env: Record<string, string | undefined> = process.env): ServeFlags {
  const f: ServeFlags = { action: "serve", options: {}, verbose: 0 };
  const o = f.options;
  if (env.BEANRUN_HTTP_TOKEN) o.httpToken = env.BEANRUN_HTTP_TOKEN;
  // A comma-separated list, for names known only when the process starts (a pod's IP, from the downward API).
  for (const name of (env.BEANRUN_HTTP_ALLOW_HOST ?? "").split(",").map((n) => n.trim())) if (name) allowHost(o, name);
  for (const { name, value = "" } of args.flags) {
    switch (name) {
      case "b":
        o.walDir = value;
        break;
      case "f":
        o.fsyncMs = int("-f", value, 0, 2 ** 31 - 1);
        o.noFsync = false;
        break;
      case "F":
        o.noFsync = true;
        break;
      case "l":
        o.host = value;
        break;
      case "p":
        o.port = int("-p", value, 0, 65535);
        break;
      case "u":
        f.user = value;
        break;
      case "z": {
        const n = int("-z", value, 0, Number.MAX_SAFE_INTEGER);
        if (n > MAX_JOB_SIZE) console.error(`beanrun: maximum job size was set to ${MAX_JOB_SIZE}`);
        o.maxJobSize = Math.min(n, MAX_JOB_SIZE);
        break;
      }
      case "s":
        o.walFileSize = int("-s", value, 1, 2 ** 31 - 1);
        break;
      case "c":
        o.compact = true;
        break;
      case "n":
        o.compact = false;
        break;
      case "v":
      case "version":
        f.action = "version";
        break;
      case "V":
        f.verbose++;
        o.verbose = f.verbose;
        break;
      case "help":
        f.action = "help";
        break;
      case "compat":
        if (value !== "1.12" && value !== "1.13") throw new UsageError(`--compat: expected 1.12 or 1.13, got "${value}"`);
        o.compat = value;
        break;
      case "http": {
        const m = /^(?:(.+):)?(\d+)$/.exec(value);
        if (!m) throw new UsageError(`--http: expected [ADDR:]PORT, got "${value}"`);
        if (m[1]) o.httpHost = m[1];
        o.httpPort = int("--http", m[2]!, 0, 65535);
        break;
      }
      case "http-token":
        if (!value) throw new UsageError("--http-token requires a value");
        o.httpToken = value;
        break;
      case "store":
        if (!/^postgres(ql)?:\/\//.test(value)) throw new UsageError(`--store: expected postgres://..., got "${value}"`);
        o.store = value;
        break;
      case "http-allow-host":
        allowHost(o, value);
        break;
    }
  }
  return f;
}

function allowHost(o: ServerOptions, name: string): void {
  if (!name || /[\s/]/.test(name)) throw new UsageError(`--http-allow-host: expected a host name, got "${name}"`);
  (o.httpAllowHosts ??= []).push(name);
}

/** serve's flags that also make sense for a runner without a server of its own (`run --connect ... --http`). */
export const HTTP_FLAGS: ReadonlySet<string> = new Set(["http", "http-token", "http-allow-host"]);

/** True when any of serve's flags was given, --help and `except` aside (run refuses them with --connect). */
export function hasServeFlags(args: ParsedArgs, except: ReadonlySet<string> = new Set()): boolean {
  const names = new Set(SERVE_FLAGS.map((s) => s.name));
  return args.flags.some((f) => names.has(f.name) && f.name !== "help" && !except.has(f.name));
}
