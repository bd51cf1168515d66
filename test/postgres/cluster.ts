/**
 * A throwaway PostgreSQL cluster per test file: initdb into a temp dir (as
 * user postgres via runuser when we are root, since initdb refuses root),
 * pg_ctl on a free loopback port with its socket in the temp dir, stopped and
 * removed after. No system service is touched. Each test takes a fresh
 * database of its own (`database()`), so tests in one file do not see each
 * other's jobs.
 *
 * PG_BIN: the binaries (default: Debian's newest /usr/lib/postgresql/N/bin). When
 * they are missing, `POSTGRES` is null and the PostgreSQL tests are skipped
 * with a message; .ci/run installs Debian's postgresql so CI runs them.
 */
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { freePort } from "../support/servers.ts";

/** The newest of Debian's /usr/lib/postgresql/<major>/bin, unless PG_BIN says otherwise. */
function findBin(): string {
  const root = "/usr/lib/postgresql";
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((d) => /^\d+$/.test(d))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  return majors.length ? join(root, majors[0]!, "bin") : join(root, "15", "bin");
}

export const PG_BIN = process.env.PG_BIN ?? findBin();
export const POSTGRES: string | null = existsSync(join(PG_BIN, "initdb")) ? PG_BIN : null;
if (!POSTGRES) console.warn(`PostgreSQL binaries not found in ${PG_BIN}: PostgreSQL tests skipped (apt-get install postgresql)`);

const asRoot = process.getuid?.() === 0;

export interface Cluster {
  port: number;
  dir: string;
  /** postgres://postgres@127.0.0.1:PORT/NAME */
  url(db?: string): string;
  /** Creates a fresh empty database and returns its URL. */
  database(): Promise<string>;
  /** Stops the cluster with `mode` (fast: clients disconnected; immediate: like a crash) and starts it again on the same port. */
  restart(mode?: "fast" | "immediate"): Promise<void>;
  stop(): Promise<void>;
}

async function run(cmd: string[]): Promise<string> {
  const full = asRoot ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
  const p = Bun.spawn(full, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${err || out}`);
  return out;
}

let dbSeq = 0;

/** Creates an empty database next to the one `adminUrl` names; returns its URL. */
export async function freshDatabase(adminUrl: string): Promise<string> {
  const name = `t${process.pid}_${++dbSeq}`;
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`create database ${name}`);
  } finally {
    await sql.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function startCluster(settings: string[] = []): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), "beanrun-pg-"));
  if (asRoot) chownSync(dir, Number(Bun.spawnSync(["id", "-u", "postgres"]).stdout.toString().trim()), 0);
  const data = join(dir, "data");
  await run([join(PG_BIN, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  const port = await freePort();
  const opts = [
    "-p",
    String(port),
    "-k",
    dir,
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "fsync=on",
    "-c",
    "synchronous_commit=on",
    ...settings,
  ].join(" ");
  const start = () => run([join(PG_BIN, "pg_ctl"), "-D", data, "-l", join(dir, "log"), "-w", "-t", "60", "-o", opts, "start"]);
  const stopWith = (mode: string) => run([join(PG_BIN, "pg_ctl"), "-D", data, "-m", mode, "-w", "-t", "60", "stop"]);
  await start();
  const url = (db = "postgres") => `postgres://postgres@127.0.0.1:${port}/${db}`;
  let stopped = false;
  return {
    port,
    dir,
    url,
    database: () => freshDatabase(url()),
    async restart(mode = "fast") {
      await stopWith(mode);
      await start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopWith("immediate").catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
