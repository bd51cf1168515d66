/**
 * What the queue tells persistent storage. The queue calls these in the order
 * state changes happen; a journal that cannot make room for a record answers
 * false and the command is refused (OUT_OF_MEMORY), never half-applied.
 *
 * Durability: replies produced after a record was written must not reach the
 * client before that record is durable. `written` is the sequence number of
 * the last record; `whenDurable(seq, fn)` runs fn once it is on disk.
 */
export interface JournalStats {
  oldestIndex: number;
  currentIndex: number;
  recordsMigrated: number;
  recordsWritten: number;
  maxSize: number;
}

export interface Journal {
  /** Make room for a new job's records (its put and its eventual delete). */
  reservePut(slot: number): boolean;
  /** Make room for one more state record of this job (release with delay, bury, kick). */
  reserveUpdate(slot: number): boolean;
  /** Append the job's current state. */
  write(slot: number): void;
  /** Append the job's deletion; its slot is freed right after. */
  delete(slot: number): void;
  /** Sequence number of the last record appended. */
  readonly written: number;
  /** Sequence number of the last record known to be on disk. */
  readonly durable: number;
  whenDurable(seq: number, fn: () => void): void;
  stats(): JournalStats;
  /** Makes everything durable and releases the log (server shutdown). */
  close?(): Promise<void>;
  /** The server is quiet: buffers kept for reuse may be given back. */
  releaseIdle?(): void;
}

/** The journal of a server without -b: nothing is written, everything is "durable". */
export const nullJournal: Journal = {
  reservePut: () => true,
  reserveUpdate: () => true,
  write: () => {},
  delete: () => {},
  written: 0,
  durable: 0,
  whenDurable: (_seq, fn) => fn(),
  stats: () => ({ oldestIndex: 0, currentIndex: 0, recordsMigrated: 0, recordsWritten: 0, maxSize: 10485760 }),
};
