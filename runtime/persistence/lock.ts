/**
 * One server per log directory. The lock is a file `lock` created with
 * O_CREAT|O_EXCL holding the owner's pid. A lock whose owner no longer runs
 * (the server was killed) is stale and taken over; node:fs has no flock, so
 * liveness is checked with kill(pid, 0) and, on Linux, /proc/<pid>/stat
 * (a zombie holds no lock), and a process that started after the lock file
 * was written is a reused pid, not the owner.
 */
import * as fs from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { codeOf, describe, WalError } from "./errors.ts";

export interface DirLock {
  readonly path: string;
  release(): void;
}

/** Lock files this process holds: a second server in the same process must not share a directory. */
const held = new Set<string>();

/** Seconds since the epoch at which process `pid` started, from /proc; undefined when unknown. */
function startedAt(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[19]); // field 22 of stat: start time in clock ticks after boot
    const btime = /^btime (\d+)$/m.exec(fs.readFileSync("/proc/stat", "latin1"));
    if (!btime || !Number.isFinite(ticks)) return undefined;
    return Number(btime[1]) + ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/**
 * Whether the server that wrote a lock file `writtenAt` (epoch seconds) with
 * this pid still runs. Our own pid is never the owner (a restarted container
 * gets pid 1 again); nor is a process that started after the file was written
 * (the pid was reused, e.g. after a reboot).
 */
function alive(pid: number, writtenAt: number): boolean {
  if (!(pid > 0) || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (codeOf(e) !== "EPERM") return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return false;
  } catch {
    // No /proc: trust kill().
  }
  const started = startedAt(pid);
  return started === undefined || started <= writtenAt + 2;
}

export function lockDir(dir: string): DirLock {
  const path = join(dir, "lock");
  if (held.has(path)) {
    throw new WalError(
      `the log directory ${dir} is in use by another server in this process (lock file ${path}); give each server its own -b directory`,
    );
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number;
    try {
      fd = fs.openSync(path, "wx", 0o644);
    } catch (e) {
      if (codeOf(e) !== "EEXIST") throw new WalError(`cannot create the lock file ${path}: ${describe(e)}`);
      let text = "";
      let writtenAt = 0;
      try {
        text = fs.readFileSync(path, "utf8");
        writtenAt = fs.statSync(path).mtimeMs / 1000;
      } catch (e2) {
        if (codeOf(e2) === "ENOENT") continue;
        throw new WalError(`cannot read the lock file ${path}: ${describe(e2)}`);
      }
      const pid = Number.parseInt(text.trim(), 10);
      if (Number.isFinite(pid) && alive(pid, writtenAt)) {
        throw new WalError(
          `the log directory ${dir} is in use by another beanrun server (pid ${pid}, lock file ${path}); ` +
            `stop that server or give this one another -b directory`,
        );
      }
      if (!Number.isFinite(pid) && text.length === 0 && attempt === 0) {
        // A lock file being written right now by a starting server: look again shortly.
        const until = Date.now() + 50;
        while (Date.now() < until) {
          /* brief spin: this only happens when two servers start at the same instant */
        }
        continue;
      }
      // Stale: its owner is gone. Move it aside atomically so only one taker wins.
      const aside = `${path}.stale.${process.pid}`;
      try {
        fs.renameSync(path, aside);
        fs.unlinkSync(aside);
      } catch (e3) {
        if (codeOf(e3) !== "ENOENT") throw new WalError(`cannot remove the stale lock file ${path}: ${describe(e3)}`);
      }
      continue;
    }
    try {
      fs.writeSync(fd, `${process.pid}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    let released = false;
    held.add(path);
    return {
      path,
      release() {
        if (released) return;
        released = true;
        held.delete(path);
        try {
          if (fs.readFileSync(path, "utf8").trim() === String(process.pid)) fs.unlinkSync(path);
        } catch {
          // Already gone.
        }
      },
    };
  }
  throw new WalError(`cannot take the lock file ${path}: it keeps changing (another server starting?)`);
}
