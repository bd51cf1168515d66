/** Options of a beanrun server; the CLI flags map onto these one to one. */
export interface ServerOptions {
  /** Listen address (`-l`). Default 127.0.0.1. */
  host?: string;
  /** Listen port (`-p`); 0 picks a free port. Default 11300. */
  port?: number;
  /** Maximum job body size in bytes (`-z`). Default 65535. */
  maxJobSize?: number;
  /** Wire format: "1.13" (default) or "1.12" (what Debian ships). */
  compat?: "1.12" | "1.13";
  /** `--store postgres://...`: the jobs live in this PostgreSQL database, shared by any number of front ends. */
  store?: string;
  /** Write-ahead log directory (`-b`); absent means in memory only. */
  walDir?: string;
  /** fsync at most every N ms (`-f`); 0 syncs before every acknowledgement. */
  fsyncMs?: number;
  /** Never fsync (`-F`). */
  noFsync?: boolean;
  /** Size of each log file in bytes (`-s`). */
  walFileSize?: number;
  /** Compact the log (`-c`, default) or not (`-n`). */
  compact?: boolean;
  /** Serve the dashboard, /stats.json and /metrics over HTTP on this port (`--http`). */
  httpPort?: number;
  /** Address for the HTTP endpoints; defaults to 127.0.0.1 whatever `host` is (`--http ADDR:PORT` to change it). */
  httpHost?: string;
  /** Token the console's actions and job bodies need (`--http-token` or BEANRUN_HTTP_TOKEN); required off loopback. */
  httpToken?: string;
  /** Names besides loopback ones and the bound address accepted in the Host header (`--http-allow-host`). */
  httpAllowHosts?: string[];
  /** `-V` (repeatable): 1 or more logs each accepted and closed connection, as beanstalkd does. */
  verbose?: number;
  /** Where verbose lines go (default: stderr). */
  log?: (line: string) => void;
}
