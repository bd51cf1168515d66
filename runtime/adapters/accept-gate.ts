/**
 * Keeps the server below its descriptor limit, so accept() never fails with
 * EMFILE. At EMFILE the listening socket stays readable and the event loop
 * spins on a failing accept (measured under Bun: ~12k accept4/epoll calls a
 * second, 20-100% of a core, new clients left hanging; under Deno the
 * listener stopped accepting for good). beanstalkd spins the same way.
 *
 * The gate admits connections while fewer than `max` are open, where `max`
 * is the soft RLIMIT_NOFILE minus the descriptors open when the server
 * started listening (log files, stdio, the runtime's own) and a margin for
 * files opened later (new log files, spares). A connection over the limit is
 * accepted and closed at once: its client learns right away, and a
 * descriptor is always free for the next accept. Existing connections are
 * served normally. The first refusal is logged, and the return below the
 * limit with how many were refused, once per episode, not per connection.
 *
 * Without /proc (not Linux) the limit is unknown and nothing is refused.
 */

/**
 * Descriptors kept free for everything that is not a client connection,
 * by default; each transport passes its own. Deno (node-listen.ts) opens
 * about 60 more of its own once connections arrive (measured at ulimit -n
 * 256: with 64 kept free it still reached EMFILE and its listener stopped
 * accepting for good; with 128 it did not).
 */
export const MARGIN = 64;

/** The soft limit on open files and how many are open now, or null where /proc is missing. */
export function descriptorUse(): { limit: number; open: number } | null {
  try {
    // Loaded here, not at import: Bun's worker processes import this adapter and never listen (runner/load-job.ts).
    const { readdirSync, readFileSync } = process.getBuiltinModule("node:fs");
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    if (!m || m[1] === "unlimited") return null;
    return { limit: Number(m[1]), open: readdirSync("/proc/self/fd").length };
  } catch {
    return null;
  }
}

export class AcceptGate {
  private open = 0;
  private refused = 0;
  private full = false;

  constructor(
    readonly max: number,
    private readonly log: (line: string) => void,
  ) {}

  /** A gate for this process's limit, or one that admits everything. */
  static forProcess(log: (line: string) => void, margin = MARGIN): AcceptGate {
    const use = descriptorUse();
    const max = use ? Math.max(8, use.limit - use.open - margin) : Infinity;
    return new AcceptGate(max, log);
  }

  /** A connection was accepted: true to serve it, false to close it now. */
  admit(): boolean {
    if (this.open < this.max) {
      this.open++;
      return true;
    }
    this.refused++;
    if (!this.full) {
      this.full = true;
      this.log(
        `beanrun: WARNING: ${this.open} connections open, as many as the descriptor limit (ulimit -n) leaves room for: closing new connections until some close (raise the limit to serve more)`,
      );
    }
    return false;
  }

  /** An admitted connection closed. */
  release(): void {
    this.open--;
    if (this.full && this.open < this.max) {
      this.full = false;
      this.log(`beanrun: accepting connections again (${this.refused} closed at the limit)`);
      this.refused = 0;
    }
  }
}
