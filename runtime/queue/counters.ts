/**
 * What the queue reports and how its operations end.
 *
 * `QueueCounters` is the one record of global counts that `stats`, the HTTP
 * snapshot and the Prometheus metrics read. The queue updates it in place
 * and hands out a read-only view, so no reader can change it.
 *
 * `Result` is the one status type of queue operations. Every operation that
 * can fail for a reason the client must hear returns one; the protocol maps
 * it to reply bytes. Operations that deliver a job do so through
 * `ConnEvents.reserved` (see conn.ts), never through their return value.
 */
export interface QueueCounters {
  /** Ready jobs with priority < 1024. */
  urgent: number;
  ready: number;
  reserved: number;
  delayed: number;
  buried: number;
  /** Connections waiting in a reserve. */
  waiting: number;
  /** Jobs ever put (and recovered). */
  totalJobs: number;
  /** Reservations that ran past their TTR. */
  timeouts: number;
  connections: number;
  /** Connections that have put a job. */
  producers: number;
  /** Connections that have reserved. */
  workers: number;
  totalConnections: number;
}

export function newCounters(): QueueCounters {
  return {
    urgent: 0,
    ready: 0,
    reserved: 0,
    delayed: 0,
    buried: 0,
    waiting: 0,
    totalJobs: 0,
    timeouts: 0,
    connections: 0,
    producers: 0,
    workers: 0,
    totalConnections: 0,
  };
}

export const enum Result {
  /** Done: the job was put, deleted, released, buried, touched, kicked, or delivered. */
  Ok,
  NotFound,
  /** The journal has no room for the record this needs. */
  OutOfMemory,
  /** A put's body did not end in "\r\n". */
  ExpectedCrlf,
  /** The server is draining: no new jobs. */
  Draining,
  /** A reservation of this connection is about to run out. */
  DeadlineSoon,
  /** A reserve now waits; its outcome arrives through ConnEvents. */
  Waiting,
  /** ignore of the last watched tube. */
  NotIgnored,
}
