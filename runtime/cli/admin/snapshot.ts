/**
 * Every tube's stats at one moment: list-tubes, then stats-tube for each,
 * pipelined in one round trip. A tube that vanishes in between (the last
 * user left and it was empty) is left out rather than reported as an error.
 */
import type { Client, TubeStats } from "../../client/index.ts";
import { isNotFound } from "./targets.ts";

export async function tubeStats(client: Client): Promise<TubeStats[]> {
  const names = await client.listTubes();
  const stats = await Promise.all(
    names.map((name) =>
      client.statsTube(name).catch((e: unknown) => {
        if (isNotFound(e)) return null;
        throw e;
      }),
    ),
  );
  return stats.filter((s): s is TubeStats => s !== null).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** One tube as the tubes and top commands show it. */
export interface TubeRow {
  name: string;
  ready: number;
  reserved: number;
  delayed: number;
  buried: number;
  urgent: number;
  waiting: number;
  paused: boolean;
  "pause-time-left": number;
}

export function tubeRow(st: TubeStats): TubeRow {
  return {
    name: st.name,
    ready: st["current-jobs-ready"],
    reserved: st["current-jobs-reserved"],
    delayed: st["current-jobs-delayed"],
    buried: st["current-jobs-buried"],
    urgent: st["current-jobs-urgent"],
    waiting: st["current-waiting"],
    // beanstalkd keeps "pause" (the duration) after a pause ends; time left says whether it still holds.
    paused: st["pause-time-left"] > 0,
    "pause-time-left": st["pause-time-left"],
  };
}

export function pausedCell(row: TubeRow): string {
  return row.paused ? `${row["pause-time-left"]}s` : "-";
}
