/**
 * The console's and /metrics' view of a PostgreSQL front end: the same
 * ConsoleSource interface (runtime/http/source.ts) the in-memory server
 * feeds, answered from the database, so `serve --store ... --http PORT` has
 * the same page, JSON API, /stats.json and /metrics.
 *
 * Which figures are cluster-wide is what `stats` says (README.md "Which stats
 * are cluster-wide"): job counts, total-jobs, cmd-delete, cmd-pause-tube,
 * job-timeouts and pauses from the database; command counters, connections
 * and each tube's using/watching/waiting are this front end's. Reads run as
 * group-commit steps that do not wait for a WAL flush, like stats-tube.
 */

import { PREVIEW_BYTES, viewBody } from "../../http/body-view.ts";
import type { JobPage, JobView, ListState } from "../../http/jobs-view.ts";
import { LIST_PREVIEW_BYTES, MAX_LIMIT, MAX_OFFSET } from "../../http/jobs-view.ts";
import type { Snapshot } from "../../http/snapshot.ts";
import type { ConsoleSource } from "../../http/source.ts";
import { COMMAND_NAMES } from "../../protocol/ops.ts";
import type { FrontContext } from "./context.ts";
import type { Step } from "./group-commit.ts";
import * as I from "./inspect.ts";

const STATE: Record<ListState, number> = { ready: 1, reserved: 2, buried: 3, delayed: 4 };
const NAMES = ["invalid", "ready", "reserved", "buried", "delayed"];
/** Serving order per state, each the order of its partial index. */
const ORDER: Record<ListState, string> = {
  ready: "pri, id",
  reserved: "deadline, id",
  buried: "bury_seq",
  delayed: "ready_at, id",
};
const COLUMNS = `id, tube, state, pri::float8 as pri, (beanrun_now() - created)::float8 as age_ms, delay::float8 as delay,
  ttr::float8 as ttr, (case when state = 2 then deadline - beanrun_now() when state = 4 then ready_at - beanrun_now() else 0 end)::float8 as left_ms,
  reserves, timeouts, releases, buries, kicks`;

type Row = Record<string, unknown>;

function view(r: Row, withBody: boolean, preview: number): JobView {
  const v: JobView = {
    id: Number(r.id),
    tube: r.tube as string,
    state: NAMES[r.state as number]!,
    pri: r.pri as number,
    ageSeconds: Math.trunc((r.age_ms as number) / 1000),
    delay: r.delay as number,
    ttr: r.ttr as number,
    timeLeftSeconds: Math.max(0, Math.trunc((r.left_ms as number) / 1000)),
    reserves: r.reserves as number,
    timeouts: r.timeouts as number,
    releases: r.releases as number,
    buries: r.buries as number,
    kicks: r.kicks as number,
  };
  if (withBody) v.body = viewBody(r.body as Uint8Array, preview);
  return v;
}

export function storeSource(ctx: FrontContext): ConsoleSource {
  const read = <T>(step: Step<T>): Promise<T> => ctx.front.run(step, undefined, false);
  const query = (sql: string, params: unknown[]): Promise<Row[]> => read(async (tx) => [...(await tx.unsafe(sql, params as never[]))]);

  return {
    async snapshot(): Promise<Snapshot> {
      const local = ctx.snapshot();
      const server = await read(I.serverStats(ctx.front.id));
      const names = [...new Set(["default", ...local.tubes, ...server.tubes])].sort();
      const rows = await Promise.all(names.map((n) => read(I.tubeStats(n, ctx.front.id))));
      const commands: Record<string, number> = {};
      for (const [name, op] of COMMAND_NAMES) commands[name] = local.ops[op]!;
      return {
        version: ctx.compat,
        uptimeSeconds: Math.trunc((Date.now() - ctx.startedAt) / 1000),
        draining: ctx.draining,
        jobs: { ...I.countsOf(server), total: server.total, timeouts: server.timeouts },
        connections: {
          current: local.connections,
          producers: local.producers,
          workers: local.workers,
          waiting: local.waiting,
          total: local.totalConns,
        },
        commands,
        // PostgreSQL is the log.
        binlog: { oldestIndex: 0, currentIndex: 0, recordsWritten: 0, recordsMigrated: 0 },
        maxJobSize: ctx.maxJobSize,
        store: ctx.front.commit.stats(),
        tubes: names.map((name, i) => {
          const t = rows[i]!;
          const refs = ctx.refs.get(name);
          return {
            name,
            ...I.countsOf(t),
            totalJobs: t.total,
            using: refs?.using ?? 0,
            watching: refs?.watching ?? 0,
            waiting: ctx.waitingOn(name),
            deletes: t.deletes,
            pauses: t.pauses,
            pausedSecondsLeft: Math.trunc(t.pauseLeftMs / 1000),
          };
        }),
      };
    },

    async listJobs(tube, state, offset, limit, withBodies): Promise<JobPage | null> {
      if (!(await this.hasTube(tube))) return null;
      offset = Math.max(0, Math.min(MAX_OFFSET, Math.trunc(offset)));
      limit = Math.max(1, Math.min(MAX_LIMIT, Math.trunc(limit)));
      const [rows, count] = await Promise.all([
        query(
          `select ${COLUMNS}${withBodies ? ", body" : ""} from beanrun_jobs where tube = $1 and state = $2
           order by ${ORDER[state]} offset $3 limit $4`,
          [tube, STATE[state], offset, limit],
        ),
        query("select count(*)::float8 as n from beanrun_jobs where tube = $1 and state = $2", [tube, STATE[state]]),
      ]);
      const total = count[0]!.n as number;
      return { tube, state, offset, total, jobs: rows.map((r) => view(r, withBodies, LIST_PREVIEW_BYTES)) };
    },

    async jobById(id, withBodies): Promise<JobView | null> {
      const [r] = await query(`select ${COLUMNS}${withBodies ? ", body" : ""} from beanrun_jobs where id = $1`, [id]);
      return r ? view(r, withBodies, PREVIEW_BYTES) : null;
    },

    async hasTube(name): Promise<boolean> {
      if (name === "default" || ctx.refs.has(name)) return true;
      return (await read(I.liveTubes(ctx.front.id))).includes(name);
    },

    maxJobSize: ctx.maxJobSize,
  };
}
