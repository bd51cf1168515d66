/**
 * What `beanrun top` draws from two successive samples: server totals and
 * connections, then one line per tube. Rates are counter deltas over the
 * time between the samples (put/s from total-jobs, deleted/s from
 * cmd-delete); "-" on the first sample, for a tube that just appeared, or
 * when a counter went down (the server restarted).
 */
import type { ServerStats, TubeStats } from "../../client/index.ts";
import { type Column, table } from "./format.ts";
import { type TubeRow, tubeRow } from "./snapshot.ts";
import { COUNT_COLUMNS, PAUSED_COLUMN } from "./tubes.ts";

export interface Sample {
  /** Monotonic milliseconds (performance.now()) when the replies arrived. */
  at: number;
  server: ServerStats;
  tubes: readonly TubeStats[];
}

interface TopRow extends TubeRow {
  putRate: string;
  deleteRate: string;
}

function rate(prev: number | undefined, cur: number, seconds: number): string {
  if (prev === undefined || cur < prev || seconds <= 0) return "-";
  return ((cur - prev) / seconds).toFixed(1);
}

const rateColumn = (header: string, get: (r: TopRow) => string): Column<TopRow> => ({ header, align: "right", cell: get });

const COLUMNS: ReadonlyArray<Column<TopRow>> = [
  ...COUNT_COLUMNS,
  rateColumn("PUT/S", (r) => r.putRate),
  rateColumn("DEL/S", (r) => r.deleteRate),
  PAUSED_COLUMN,
];

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d) return `${d}d${h}h`;
  if (h) return `${h}h${String(m).padStart(2, "0")}m`;
  return `${m}m${String(Math.floor(seconds % 60)).padStart(2, "0")}s`;
}

export function renderTop(prev: Sample | null, cur: Sample, header: string): string {
  const dt = prev ? (cur.at - prev.at) / 1000 : 0;
  const s = cur.server;
  const p = prev?.server;
  const before = new Map(prev?.tubes.map((t) => [t.name, t]));
  const rows: TopRow[] = cur.tubes.map((t) => {
    const old = before.get(t.name);
    return {
      ...tubeRow(t),
      putRate: rate(old?.["total-jobs"], t["total-jobs"], dt),
      deleteRate: rate(old?.["cmd-delete"], t["cmd-delete"], dt),
    };
  });
  const lines = [
    header,
    `jobs         ready ${s["current-jobs-ready"]}  reserved ${s["current-jobs-reserved"]}  delayed ${s["current-jobs-delayed"]}  buried ${s["current-jobs-buried"]}  urgent ${s["current-jobs-urgent"]}  total ${s["total-jobs"]}`,
    `rates        put/s ${rate(p?.["cmd-put"], s["cmd-put"], dt)}  deleted/s ${rate(p?.["cmd-delete"], s["cmd-delete"], dt)}  timeouts/s ${rate(p?.["job-timeouts"], s["job-timeouts"], dt)}`,
    `connections  ${s["current-connections"]} (producers ${s["current-producers"]}, workers ${s["current-workers"]}, waiting ${s["current-waiting"]})  tubes ${s["current-tubes"]}`,
    `server       ${s.version}  pid ${s.pid}  up ${duration(s.uptime)}${s.draining ? "  DRAINING" : ""}`,
    "",
  ];
  return `${lines.join("\n")}\n${table(COLUMNS, rows)}`;
}
