/**
 * Every statement the PostgreSQL front end runs for a beanstalkd command,
 * each as one group-commit step issuing ONE SQL statement (so the commands of
 * one connection keep their order inside a pipelined batch).
 *
 * Ownership of a reservation is (front, conn): the front end's id in
 * beanrun_frontends and the connection's number inside that front end. Only
 * the owner may release, bury, touch or delete a reserved job, as in
 * beanstalkd; a job that is not reserved may be deleted by anyone.
 *
 * Times are milliseconds on the database's clock (beanrun_now()), the only
 * clock all front ends share; delays and TTRs are whole seconds as in the
 * protocol. A job is handed out by `UPDATE ... FROM (SELECT ... FOR UPDATE
 * SKIP LOCKED)`: two transactions can never pick the same row.
 */
import type { Step } from "./group-commit.ts";

export const READY = 1;
export const RESERVED = 2;
export const BURIED = 3;
export const DELAYED = 4;

export interface Owner {
  front: number;
  conn: number;
}

export interface JobBody {
  id: number;
  body: Uint8Array;
}

export interface Reserved extends JobBody {
  ttr: number;
  /** Were other ready jobs in the watched tubes when this one was taken (some may be taken by others meanwhile)? */
  more: boolean;
  /** Did another front end have reserves waiting on these tubes (beanrun_waiting, wakeups.ts)? */
  hungry: boolean;
}

const one = <T>(rows: readonly T[]): T | undefined => rows[0];
const P = { prepare: true } as const;

const PUT_VALUES = `(tube, state, pri, delay, ttr, created, ready_at, body)
       values ($1, $2, $3, $4::bigint, $5::bigint, beanrun_now(), beanrun_now() + $4::bigint * 1000, $6) returning id`;
/** A put that is its batch's only command: its tube row and total-jobs in the same statement (there is no batch-end one). */
const PUT_ALONE = `with t as (insert into beanrun_tubes (name) values ($1) on conflict do nothing),
       c as (insert into beanrun_tube_counts as c (tube, front, total_jobs) values ($1, $7, 1)
             on conflict (tube, front) do update set total_jobs = c.total_jobs + 1)
       insert into beanrun_jobs ${PUT_VALUES}`;

export function put(tube: string, pri: number, delay: number, ttr: number, body: Uint8Array): Step<number> {
  return async (tx, b) => {
    const params = [tube, delay > 0 ? DELAYED : READY, pri, delay, Math.max(ttr, 1), body];
    const rows = b.alone
      ? tx.unsafe(PUT_ALONE, [...params, b.shard] as never[], P)
      : tx.unsafe(`insert into beanrun_jobs ${PUT_VALUES}`, params as never[], P);
    if (!b.alone) b.put(tube);
    if (delay === 0) b.wake(tube);
    return Number(one(await rows)!.id);
  };
}

const RESERVE_SET = `update beanrun_jobs j set state = 2, front = $2, conn = $3, reserves = j.reserves + 1,
         deadline = beanrun_now() + j.ttr::bigint * 1000`;
// more: one probe of the ready index per watched tube (written so that no plan can scan the table instead).
const RESERVE_RETURNING = `returning j.id, j.ttr, j.body,
         exists (select 1 from unnest($1::text[]) as u(t) cross join lateral (
           select 1 from beanrun_jobs k where k.tube = u.t and k.state = 1 and k.id <> j.id order by k.pri, k.id limit 1) x) as more,
         exists (select 1 from beanrun_waiting w where w.tube = any($1::text[]) and w.front <> $2) as hungry`;

/** Watching one tube (the usual worker): one descent of the ready index, no join over the watched tubes. */
const RESERVE_ONE = `${RESERVE_SET}
       from (select id from beanrun_jobs where tube = ($1::text[])[1] and state = 1
               and not exists (select 1 from beanrun_tubes t where t.name = ($1::text[])[1] and t.pause_until > beanrun_now())
             order by pri, id limit 1 for update skip locked) cand
       where j.id = cand.id ${RESERVE_RETURNING}`;

/** Watching several: one descent per watched tube that is not paused (a LATERAL join), the most urgent of their heads. */
const RESERVE_ANY = `with w as (
         select u.name from unnest($1::text[]) as u(name)
         where not exists (select 1 from beanrun_tubes t where t.name = u.name and t.pause_until > beanrun_now())
       ), cand as (
         select c.id from w cross join lateral (
           select j.id, j.pri from beanrun_jobs j where j.tube = w.name and j.state = 1
           order by j.pri, j.id limit 1 for update of j skip locked) c
         order by c.pri, c.id limit 1
       )
       ${RESERVE_SET}
       from cand where j.id = cand.id ${RESERVE_RETURNING}`;

/** The most urgent ready job (pri, then id) across `tubes`, skipping paused tubes and rows other transactions hold. */
export function reserve(owner: Owner, tubes: readonly string[]): Step<Reserved | undefined> {
  return async (tx) => {
    const rows = await tx.unsafe(tubes.length === 1 ? RESERVE_ONE : RESERVE_ANY, [tubes, owner.front, owner.conn] as never[], P);
    const r = one(rows);
    return r ? { id: Number(r.id), ttr: Number(r.ttr), body: r.body, more: r.more, hungry: r.hungry } : undefined;
  };
}

/** reserve-job: any job that is not reserved, by id. */
export function reserveJob(owner: Owner, id: number): Step<Reserved | undefined> {
  return async (tx) => {
    const rows = await tx.unsafe(
      `update beanrun_jobs j set state = 2, front = $2, conn = $3, reserves = j.reserves + 1,
         deadline = beanrun_now() + j.ttr::bigint * 1000
       where j.id = $1 and j.state <> 2 returning j.id, j.ttr, j.body, j.tube`,
      [id, owner.front, owner.conn] as never[],
      P,
    );
    const r = one(rows);
    return r ? { id: Number(r.id), ttr: Number(r.ttr), body: r.body, more: false, hungry: false } : undefined;
  };
}

export function remove(owner: Owner, id: number): Step<boolean> {
  return async (tx, b) => {
    const rows = await tx.unsafe(
      `with d as (delete from beanrun_jobs where id = $1 and (state <> 2 or (front = $2 and conn = $3)) returning tube),
       c as (insert into beanrun_tube_counts as c (tube, front, deletes) select tube, $4, 1 from d
             on conflict (tube, front) do update set deletes = c.deletes + 1)
       select 1 from d`,
      [id, owner.front, owner.conn, b.shard] as never[],
      P,
    );
    return rows.length > 0;
  };
}

export function release(owner: Owner, id: number, pri: number, delay: number): Step<boolean> {
  return async (tx, b) => {
    const rows = await tx.unsafe(
      `update beanrun_jobs set state = $5, pri = $4, delay = $6::bigint, ready_at = beanrun_now() + $6::bigint * 1000,
         releases = releases + 1, front = 0, conn = 0, deadline = 0
       where id = $1 and state = 2 and front = $2 and conn = $3 returning tube`,
      [id, owner.front, owner.conn, pri, delay > 0 ? DELAYED : READY, delay] as never[],
      P,
    );
    const r = one(rows);
    if (r && delay === 0) b.wake(r.tube);
    return r !== undefined;
  };
}

export function bury(owner: Owner, id: number, pri: number): Step<boolean> {
  return async (tx) => {
    const rows = await tx.unsafe(
      `update beanrun_jobs set state = 3, pri = $4, bury_seq = nextval('beanrun_bury_seq'), buries = buries + 1,
         front = 0, conn = 0, deadline = 0
       where id = $1 and state = 2 and front = $2 and conn = $3 returning id`,
      [id, owner.front, owner.conn, pri] as never[],
      P,
    );
    return rows.length > 0;
  };
}

/** Returns the job's TTR in seconds when touched, else -1. */
export function touch(owner: Owner, id: number): Step<number> {
  return async (tx) => {
    const rows = await tx.unsafe(
      `update beanrun_jobs set deadline = beanrun_now() + ttr::bigint * 1000
       where id = $1 and state = 2 and front = $2 and conn = $3 returning ttr`,
      [id, owner.front, owner.conn] as never[],
      P,
    );
    const r = one(rows);
    return r ? Number(r.ttr) : -1;
  };
}

/** kick: up to n buried jobs of the tube, or, when it has none, up to n delayed ones. */
export function kick(tube: string, n: number): Step<number> {
  return async (tx, b) => {
    const rows = await tx.unsafe(
      `with b as (select id from beanrun_jobs where tube = $1 and state = 3 order by bury_seq limit $2 for update skip locked),
       d as (select id from beanrun_jobs where tube = $1 and state = 4
               and not exists (select 1 from beanrun_jobs where tube = $1 and state = 3)
             order by ready_at, id limit $2 for update skip locked),
       k as (select id from b union all select id from d)
       update beanrun_jobs j set state = 1, kicks = j.kicks + 1 from k where j.id = k.id returning j.id`,
      [tube, n] as never[],
      P,
    );
    if (rows.length) b.wake(tube, rows.length);
    return rows.length;
  };
}

export function kickJob(id: number): Step<boolean> {
  return async (tx, b) => {
    const rows = await tx.unsafe(
      "update beanrun_jobs set state = 1, kicks = kicks + 1 where id = $1 and state in (3, 4) returning tube",
      [id] as never[],
      P,
    );
    const r = one(rows);
    if (r) b.wake(r.tube);
    return r !== undefined;
  };
}

export type PeekKind = "id" | "ready" | "delayed" | "buried";

const PEEK: Record<Exclude<PeekKind, "id">, string> = {
  ready: "select id, body from beanrun_jobs where tube = $1 and state = 1 order by pri, id limit 1",
  delayed: "select id, body from beanrun_jobs where tube = $1 and state = 4 order by ready_at, id limit 1",
  buried: "select id, body from beanrun_jobs where tube = $1 and state = 3 order by bury_seq limit 1",
};

export function peekId(id: number): Step<JobBody | undefined> {
  return async (tx) => {
    const r = one(await tx.unsafe("select id, body from beanrun_jobs where id = $1", [id] as never[], P));
    return r ? { id: Number(r.id), body: r.body } : undefined;
  };
}

export function peekTube(kind: Exclude<PeekKind, "id">, tube: string): Step<JobBody | undefined> {
  return async (tx) => {
    const r = one(await tx.unsafe(PEEK[kind], [tube] as never[], P));
    return r ? { id: Number(r.id), body: r.body } : undefined;
  };
}

/** Puts a connection's reservations back (the connection closed). */
export function releaseConn(owner: Owner): Step<number> {
  return async (tx, b) => {
    const rows = await tx.unsafe(
      "update beanrun_jobs set state = 1, front = 0, conn = 0, deadline = 0 where state = 2 and front = $1 and conn = $2 returning tube",
      [owner.front, owner.conn] as never[],
      P,
    );
    for (const r of rows) b.wake(r.tube);
    return rows.length;
  };
}

/**
 * pause-tube. A tube no connection of this front end refers to must exist in
 * the cluster (hold jobs, or be paused) or the reply is NOT_FOUND.
 */
export function pauseTube(tube: string, secs: number, mustExist: boolean, front: number): Step<boolean> {
  return async (tx, b) => {
    const rows = await tx.unsafe(
      `with p as (insert into beanrun_tubes as t (name, pause_secs, pause_until)
         select $1, $2::bigint, case when $2::bigint > 0 then beanrun_now() + $2::bigint * 1000 else 0 end
         where not $3 or beanrun_tube_has_jobs($1) or beanrun_tube_referenced($1, $5)
            or exists (select 1 from beanrun_tubes where name = $1 and pause_until > beanrun_now())
         on conflict (name) do update set pause_secs = excluded.pause_secs, pause_until = excluded.pause_until
         returning name),
       c as (insert into beanrun_tube_counts as c (tube, front, pauses) select name, $4, 1 from p
             on conflict (tube, front) do update set pauses = c.pauses + 1)
       select 1 from p`,
      [tube, secs, mustExist, b.shard, front] as never[],
      P,
    );
    if (!rows.length) return false;
    if (secs === 0) b.wake(tube, Infinity);
    return true;
  };
}

/** This front end refers to the tube (a connection uses or watches it) or no longer does: other front ends list it meanwhile. */
export function tubeRef(front: number, tube: string, on: boolean): Step<void> {
  return async (tx) => {
    await tx.unsafe(
      on
        ? "insert into beanrun_tube_refs (front, tube) select $1, $2 where exists (select 1 from beanrun_frontends where id = $1) on conflict do nothing"
        : "delete from beanrun_tube_refs where front = $1 and tube = $2",
      [front, tube] as never[],
      P,
    );
  };
}

/** Uses up one job id, as beanstalkd does for a put whose body was refused (EXPECTED_CRLF). */
export function burnId(): Step<void> {
  return async (tx) => {
    await tx.unsafe("select nextval(pg_get_serial_sequence('beanrun_jobs', 'id'))", [] as never[], P);
  };
}
