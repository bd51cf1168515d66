/**
 * What a server process has done with one of our connections, seen from
 * outside through its descriptor table (/proc/PID/fd), so a test can wait for
 * the server instead of sleeping, and wait the same way on beanstalkd and
 * on beanrun without sending either of them a byte.
 *
 * - `accepted(pid, connect)`: opens a connection and resolves once the
 *   server has accept()ed it, naming the server's descriptor for it (the one
 *   socket that appeared in its table; when the server opened sockets of
 *   its own meanwhile, the one on a port it listens on). Connections to one
 *   server must be opened one at a time for this to be unambiguous; it
 *   throws otherwise.
 * - `ServerFd.released()`: resolves once the server has closed that
 *   descriptor. Both servers give a connection up in one synchronous step:
 *   beanstalkd's connclose() closes the descriptor and releases the
 *   connection's reservations, watches and waits before it returns to its
 *   event loop; beanrun releases them before it sends its FIN (protocol
 *   connection.ts, teardown) and, when the client closed first, in the
 *   transport's close callback of the same step. So once the descriptor is
 *   gone, any command the server reads later sees the connection gone.
 *
 * Why not ask the server? A control connection polling `stats` until
 * current-connections drops would count itself in total-connections and
 * cmd-stats a number of times that depends on timing, and the transcripts
 * compared byte for byte would differ. Reading /proc changes nothing the
 * server reports. Linux only; elsewhere the waits fall back to a pause.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";

const HAVE_PROC = existsSync("/proc/self/fd");
const POLL_MS = 2;
const SOCKET = /^socket:\[(\d+)\]$/;

/** The socket inodes in pid's descriptor table, by descriptor number. */
function sockets(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out; // the process is gone
  }
  for (const fd of fds) {
    try {
      const m = SOCKET.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.set(fd, m[1]!);
    } catch {}
  }
  return out;
}

/** TCP sockets by inode: local port and whether it listens (/proc/net/tcp and tcp6, as seen from pid). */
function tcpTable(pid: number): Map<string, { port: number; listening: boolean }> {
  const out = new Map<string, { port: number; listening: boolean }>();
  for (const f of ["tcp", "tcp6"]) {
    let text = "";
    try {
      text = readFileSync(`/proc/${pid}/net/${f}`, "utf8");
    } catch {
      continue;
    }
    // "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ..."
    for (const line of text.split("\n").slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 10) continue;
      out.set(c[9]!, { port: Number.parseInt(c[1]!.split(":")[1]!, 16), listening: c[3] === "0A" });
    }
  }
  return out;
}

/** Of `fresh` (descriptor, inode), those whose local port is one pid listens on: connections it accepted. */
function onListeningPorts(pid: number, fresh: [string, string][]): [string, string][] {
  const tcp = tcpTable(pid);
  const ports = new Set<number>();
  for (const inode of sockets(pid).values()) {
    const t = tcp.get(inode);
    if (t?.listening) ports.add(t.port);
  }
  return fresh.filter(([, inode]) => {
    const t = tcp.get(inode);
    return t !== undefined && !t.listening && ports.has(t.port);
  });
}

/** The server's descriptor for one accepted connection. */
export class ServerFd {
  constructor(
    readonly pid: number,
    readonly fd: string,
    readonly inode: string,
  ) {}

  /** True while the server still holds this connection's descriptor. */
  held(): boolean {
    try {
      return readlinkSync(`/proc/${this.pid}/fd/${this.fd}`) === `socket:[${this.inode}]`;
    } catch {
      return false;
    }
  }

  /** Resolves once the server has closed the descriptor (see the file comment); throws after `ms`. */
  async released(ms = 15_000): Promise<void> {
    if (!HAVE_PROC) return Bun.sleep(150);
    const end = Date.now() + ms;
    while (this.held()) {
      if (Date.now() > end) throw new Error(`server ${this.pid} still holds the connection (fd ${this.fd}) after ${ms} ms`);
      await Bun.sleep(POLL_MS);
    }
  }
}

/**
 * Runs `connect` and waits until the server (pid) has accepted the
 * connection; returns what connect returned and the server's descriptor
 * (null without /proc).
 */
export async function accepted<T>(pid: number, connect: () => Promise<T>, ms = 15_000): Promise<[T, ServerFd | null]> {
  if (!HAVE_PROC) return [await connect(), null];
  const before = sockets(pid);
  const conn = await connect();
  const end = Date.now() + ms;
  for (;;) {
    let fresh = [...sockets(pid)].filter(([fd, inode]) => before.get(fd) !== inode);
    // A server may open sockets of its own meanwhile (a PostgreSQL-backed front end grows its pool):
    // only a socket on one of its listening ports was accepted.
    if (fresh.length > 1) fresh = onListeningPorts(pid, fresh);
    if (fresh.length === 1) return [conn, new ServerFd(pid, fresh[0]![0], fresh[0]![1])];
    if (fresh.length > 1) throw new Error(`server ${pid}: ${fresh.length} new sockets at once; open connections one at a time`);
    if (Date.now() > end) throw new Error(`server ${pid} did not accept a connection within ${ms} ms`);
    await Bun.sleep(POLL_MS);
  }
}
