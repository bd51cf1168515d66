/**
 * The read side: stats-job, stats-tube, the job counts of stats, list-tubes,
 * and the YAML bodies in beanstalkd's key order and formats.
 *
 * Which numbers are cluster-wide: every current-jobs-* count (exact: counted
 * in the database at the time of the command, by index-only scans of the
 * per-state partial indexes), total-jobs, a tube's cmd-delete and
 * cmd-pause-tube, job-timeouts, pause and pause-time-left, and every
 * stats-job field. Per front end (what this process saw): the cmd-* counters
 * of stats, current-connections/producers/workers/waiting, total-connections,
 * a tube's current-using/watching/waiting, uptime, pid, rusage, id, hostname.
 * The binlog-* fields are 0: PostgreSQL is the log.
 */

import type { Compat } from "../../protocol/context.ts";
import type { Batch, Step } from "./group-commit.ts";

const P = { prepare: true } as const;
const STATE = ["invalid", "ready", "reserved", "buried", "delayed"] as const;
const q = (compat: Compat, s: string) => (compat === "1.12" ? s : `"${s}"`);
const secs = (ms: number) => Math.trunc(ms / 1000);

export interface Counts {
  urgent: number;
  ready: number;
  reserved: number;
  delayed: number;
  buried: number;
}

/** The five job counts of a stats row, for the HTTP snapshot. */
export function countsOf(c: Counts): Counts {
  return { urgent: c.urgent, ready: c.ready, reserved: c.reserved, delayed: c.delayed, buried: c.buried };
}

/**
 * The job counts per state (`where`: "tube = $1 and", or nothing for all
 * tubes), each a scan of that state's partial index; the select must end with
 * READY(where), which counts ready and urgent (ready with pri < 1024) jobs in
 * one scan of the ready index instead of two.
 */
const COUNTS = (where: string) => `
  rdy.urgent, rdy.ready,
  (select count(*) from beanrun_jobs where ${where} state = 2)::int as reserved,
  (select count(*) from beanrun_jobs where ${where} state = 4)::int as delayed,
  (select count(*) from beanrun_jobs where ${where} state = 3)::int as buried`;
const READY = (where: string) =>
  `from (select (count(*) filter (where pri < 1024))::int as urgent, count(*)::int as ready from beanrun_jobs where ${where} state = 1) rdy`;

export interface TubeRow extends Counts {
  total: number;
  deletes: number;
  pauses: number;
  pauseSecs: number;
  pauseLeftMs: number;
  /** Used or watched by a connection of some live front end. */
  referenced: boolean;
}

/**
 * Jobs put by earlier commands of the same batch (in `tube`, or all): their
 * total-jobs is written at the batch's end, after this statement. Taken when
 * the step is issued, so later commands of the batch are not counted.
 */
function putsBefore(b: Batch, tube?: string): number {
  if (tube !== undefined) return b.puts.get(tube) ?? 0;
  let n = 0;
  for (const c of b.puts.values()) n += c;
  return n;
}

export function tubeStats(tube: string, front: number): Step<TubeRow> {
  return async (tx, b) => {
    const puts = putsBefore(b, tube);
    const [r] = await tx.unsafe(
      `select ${COUNTS("tube = $1 and")},
         (select coalesce(sum(total_jobs), 0) from beanrun_tube_counts where tube = $1)::float8 as total,
         (select coalesce(sum(deletes), 0) from beanrun_tube_counts where tube = $1)::float8 as deletes,
         (select coalesce(sum(pauses), 0) from beanrun_tube_counts where tube = $1)::float8 as pauses,
         coalesce((select pause_secs from beanrun_tubes where name = $1 and pause_until > beanrun_now()), 0)::float8 as pause_secs,
         coalesce((select pause_until - beanrun_now() from beanrun_tubes where name = $1 and pause_until > beanrun_now()), 0)::float8 as left_ms,
         beanrun_tube_referenced($1, $2) as referenced
       ${READY("tube = $1 and")}`,
      [tube, front] as never[],
      P,
    );
    return {
      ...(r as unknown as Counts),
      total: r!.total + puts,
      deletes: r!.deletes,
      pauses: r!.pauses,
      pauseSecs: r!.pause_secs,
      pauseLeftMs: r!.left_ms,
      referenced: r!.referenced,
    };
  };
}

/**
 * Tubes that exist cluster-wide: holding jobs, paused, or used or watched
 * through another live front end ($1: this one, which adds its own from
 * memory, so they come and go at once here).
 */
const LIVE_TUBES = `select name from beanrun_tubes t where t.pause_until > beanrun_now() or beanrun_tube_has_jobs(t.name)
  union select distinct r.tube from beanrun_tube_refs r join beanrun_frontends f on f.id = r.front
  where r.front <> $1 and f.lease_until > beanrun_now()`;

export interface ServerRow extends Counts {
  total: number;
  timeouts: number;
  /** Tubes that hold jobs or are paused (stats adds this front end's used and watched ones). */
  tubes: string[];
}

export function serverStats(front: number): Step<ServerRow> {
  return async (tx, b) => {
    const puts = putsBefore(b);
    const [r] = await tx.unsafe(
      `select ${COUNTS("")},
         (select coalesce(sum(total_jobs), 0) from beanrun_tube_counts)::float8 as total,
         (select coalesce(sum(timeouts), 0) from beanrun_tube_counts)::float8 as timeouts,
         coalesce((select array_agg(name) from (${LIVE_TUBES}) l), '{}') as tubes
       ${READY("")}`,
      [front] as never[],
      P,
    );
    return { ...(r as unknown as ServerRow), total: r!.total + puts };
  };
}

/** Tubes that hold jobs or are paused, in name order, and those a live front end's connections use or watch. */
export function liveTubes(front: number): Step<string[]> {
  return async (tx) => {
    const rows = await tx.unsafe(`${LIVE_TUBES} order by name`, [front] as never[], P);
    return rows.map((r) => r.name as string);
  };
}

export interface JobRow {
  id: number;
  tube: string;
  state: number;
  pri: number;
  ageMs: number;
  delay: number;
  ttr: number;
  leftMs: number;
  reserves: number;
  timeouts: number;
  releases: number;
  buries: number;
  kicks: number;
}

export function jobStats(id: number): Step<JobRow | undefined> {
  return async (tx) => {
    const [r] = await tx.unsafe(
      `select id, tube, state, pri::float8 as pri, (beanrun_now() - created)::float8 as age_ms, delay, ttr,
         (case when state = 2 then deadline - beanrun_now() when state = 4 then ready_at - beanrun_now() else 0 end)::float8 as left_ms,
         reserves, timeouts, releases, buries, kicks
       from beanrun_jobs where id = $1`,
      [id] as never[],
      P,
    );
    if (!r) return undefined;
    return { ...(r as unknown as JobRow), id: Number(r.id), ageMs: r.age_ms, leftMs: r.left_ms };
  };
}

export function formatJob(j: JobRow, compat: Compat): string {
  return (
    "---\n" +
    `id: ${j.id}\n` +
    `tube: ${q(compat, j.tube)}\n` +
    `state: ${STATE[j.state]}\n` +
    `pri: ${j.pri}\n` +
    `age: ${secs(j.ageMs)}\n` +
    `delay: ${j.delay}\n` +
    `ttr: ${j.ttr}\n` +
    `time-left: ${secs(Math.max(0, j.leftMs))}\n` +
    "file: 0\n" +
    `reserves: ${j.reserves}\n` +
    `timeouts: ${j.timeouts}\n` +
    `releases: ${j.releases}\n` +
    `buries: ${j.buries}\n` +
    `kicks: ${j.kicks}\n`
  );
}

/** Per-front-end figures of one tube. */
export interface TubeLocal {
  using: number;
  watching: number;
  waiting: number;
}

export function formatTube(name: string, t: TubeRow, local: TubeLocal, compat: Compat): string {
  return (
    "---\n" +
    `name: ${q(compat, name)}\n` +
    `current-jobs-urgent: ${t.urgent}\n` +
    `current-jobs-ready: ${t.ready}\n` +
    `current-jobs-reserved: ${t.reserved}\n` +
    `current-jobs-delayed: ${t.delayed}\n` +
    `current-jobs-buried: ${t.buried}\n` +
    `total-jobs: ${t.total}\n` +
    `current-using: ${local.using}\n` +
    `current-watching: ${local.watching}\n` +
    `current-waiting: ${local.waiting}\n` +
    `cmd-delete: ${t.deletes}\n` +
    `cmd-pause-tube: ${t.pauses}\n` +
    `pause: ${t.pauseSecs}\n` +
    `pause-time-left: ${secs(t.pauseLeftMs)}\n`
  );
}

export function formatTubeNames(names: readonly string[]): string {
  let s = "---\n";
  for (const n of names) s += `- ${n}\n`;
  return s;
}
