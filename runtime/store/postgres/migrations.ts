/**
 * The PostgreSQL store's schema, as numbered migrations applied in order.
 *
 * Contract: `migrate(sql)` brings the database to SCHEMA_VERSION exactly once
 * however many front ends call it at the same moment: everything happens in
 * one transaction holding a transaction-level advisory lock, so a second
 * front end waits, then sees the versions already recorded and applies
 * nothing. A database whose recorded version is newer than this binary knows
 * is refused (SchemaTooNewError): an old binary must not serve a schema whose
 * meaning it does not know. Migrations are append-only: a released one is
 * never edited, a change is a new number.
 *
 * Why these indexes: every hot statement is an index range scan on a partial
 * index holding only the rows of one state, so reserve is O(log n) at any
 * table size (one descent per watched tube into (tube, pri, id) WHERE state =
 * ready), and delete, release, bury and touch go by primary key. Jobs move
 * between states by UPDATE and leave by DELETE; dead tuples are reclaimed by
 * autovacuum, tuned per table below to run after 1% of the rows changed
 * instead of PostgreSQL's 20%, so the table's size follows its live rows
 * (jobs), not its traffic.
 */
import type { Sql } from "postgres";

/**
 * Key of the advisory lock that serialises migrations ("beanrun" in ASCII).
 * A decimal string cast to bigint: as a JS number it would not be exact (> 2^53).
 */
export const MIGRATION_LOCK = BigInt("0x6265616e72756e").toString();

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "jobs, tubes, front ends",
    sql: `
      -- Milliseconds since the epoch on the database's clock: the one clock all front ends share.
      create function beanrun_now() returns bigint language sql volatile as
        $$ select (extract(epoch from clock_timestamp()) * 1000)::bigint $$;

      -- state: 1 ready, 2 reserved, 3 buried, 4 delayed (beanstalkd's numbering).
      create table beanrun_jobs (
        id        bigint generated always as identity primary key,
        tube      text     not null,
        state     smallint not null,
        pri       bigint   not null,
        delay     bigint   not null,
        ttr       bigint   not null,
        created   bigint   not null,
        ready_at  bigint   not null default 0,
        deadline  bigint   not null default 0,
        front     integer  not null default 0,
        conn      integer  not null default 0,
        bury_seq  bigint   not null default 0,
        reserves  integer  not null default 0,
        timeouts  integer  not null default 0,
        releases  integer  not null default 0,
        buries    integer  not null default 0,
        kicks     integer  not null default 0,
        body      bytea    not null
      ) with (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
              autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_cost_delay = 0);

      create index beanrun_jobs_ready    on beanrun_jobs (tube, pri, id)      where state = 1;
      create index beanrun_jobs_reserved on beanrun_jobs (front, conn)        where state = 2;
      create index beanrun_jobs_due      on beanrun_jobs (deadline)           where state = 2;
      create index beanrun_jobs_rtube    on beanrun_jobs (tube)               where state = 2;
      create index beanrun_jobs_buried   on beanrun_jobs (tube, bury_seq)     where state = 3;
      create index beanrun_jobs_delayed  on beanrun_jobs (tube, ready_at, id) where state = 4;
      create index beanrun_jobs_wake     on beanrun_jobs (ready_at)           where state = 4;

      create sequence beanrun_bury_seq;

      -- Whether a tube holds any job: one index probe per state (no index covers all states).
      create function beanrun_tube_has_jobs(t text) returns boolean language sql stable as $$
        select exists (select 1 from beanrun_jobs where tube = t and state = 1)
            or exists (select 1 from beanrun_jobs where tube = t and state = 2)
            or exists (select 1 from beanrun_jobs where tube = t and state = 3)
            or exists (select 1 from beanrun_jobs where tube = t and state = 4) $$;

      -- Tubes that were ever put into or paused; counters are kept per front end
      -- (beanrun_tube_counts) so that front ends never wait on one hot row.
      create table beanrun_tubes (
        name        text   primary key,
        pause_secs  bigint not null default 0,
        pause_until bigint not null default 0
      );
      create table beanrun_tube_counts (
        tube       text    not null,
        front      integer not null,
        total_jobs bigint  not null default 0,
        deletes    bigint  not null default 0,
        pauses     bigint  not null default 0,
        timeouts   bigint  not null default 0,
        primary key (tube, front)
      );

      -- Front ends and their leases: the reservations of one whose lease ran out come back.
      create table beanrun_frontends (
        id          integer generated always as identity primary key,
        host        text   not null,
        pid         integer not null,
        started     bigint not null,
        lease_until bigint not null
      );
    `,
  },
  {
    version: 2,
    name: "tubes used or watched, per front end",
    sql: `
      -- A tube exists while a connection of any live front end uses or watches it, as in
      -- beanstalkd; each front end keeps one row per tube it refers to, gone with its lease.
      create table beanrun_tube_refs (
        front integer not null references beanrun_frontends (id) on delete cascade,
        tube  text    not null,
        primary key (front, tube)
      );
      create index beanrun_tube_refs_tube on beanrun_tube_refs (tube);

      -- Whether a live front end other than \`me\` refers to the tube (a front end knows its own).
      create function beanrun_tube_referenced(t text, me integer) returns boolean language sql stable as $$
        select exists (select 1 from beanrun_tube_refs r join beanrun_frontends f on f.id = r.front
                       where r.tube = t and r.front <> me and f.lease_until > beanrun_now()) $$;
    `,
  },
  {
    version: 3,
    name: "tubes front ends wait on",
    sql: `
      -- A front end whose reserves on a tube found nothing and wait has a row here; other
      -- front ends notify it about that tube only then (wakeups.ts). Gone with its lease.
      create table beanrun_waiting (
        tube  text    not null,
        front integer not null references beanrun_frontends (id) on delete cascade,
        primary key (tube, front)
      );
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export class SchemaTooNewError extends Error {
  constructor(readonly found: number) {
    super(`the database's beanrun schema is version ${found}, newer than this beanrun knows (${SCHEMA_VERSION}): upgrade beanrun`);
  }
}

export interface MigrateResult {
  from: number;
  to: number;
  applied: number[];
}

/** Applies the missing migrations, once, under the advisory lock. */
export async function migrate(sql: Sql): Promise<MigrateResult> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK}::bigint)`;
    await tx`create table if not exists beanrun_schema (
      version integer primary key, name text not null, applied_at timestamptz not null default now())`;
    const [row] = await tx<{ v: number | null }[]>`select max(version) as v from beanrun_schema`;
    const from = row?.v ?? 0;
    if (from > SCHEMA_VERSION) throw new SchemaTooNewError(from);
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (m.version <= from) continue;
      await tx.unsafe(m.sql);
      await tx`insert into beanrun_schema (version, name) values (${m.version}, ${m.name})`;
      applied.push(m.version);
    }
    return { from, to: SCHEMA_VERSION, applied };
  });
}

/** The version recorded in the database (0 when beanrun never migrated it). */
export async function schemaVersion(sql: Sql): Promise<number> {
  const [t] = await sql<{ t: string | null }[]>`select to_regclass('beanrun_schema')::text as t`;
  if (!t?.t) return 0;
  const [row] = await sql<{ v: number | null }[]>`select max(version) as v from beanrun_schema`;
  return row?.v ?? 0;
}
