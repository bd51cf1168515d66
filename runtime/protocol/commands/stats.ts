/**
 * Commands that answer with a YAML body: stats, stats-job, stats-tube,
 * list-tubes, list-tubes-watched. The bodies are built in stats-format.ts.
 */
import { NONE } from "../../queue/jobs.ts";
import { Op } from "../ops.ts";
import * as R from "../replies.ts";
import { formatJobStats, formatStats, formatTubeList, formatTubeStats } from "../stats-format.ts";
import { bare, byId, byTube, type Family } from "./family.ts";

export const statsCommands: Family = [
  bare("stats", Op.Stats, (s) => s.sendYaml(formatStats(s.ctx.queue, s.ctx.ops, s.ctx.host, s.ctx.compat))),
  byId("stats-job ", Op.StatsJob, (s, id) => {
    const j = s.ctx.queue.find(id);
    if (j === NONE) return s.out.bytes(R.NOT_FOUND);
    s.sendYaml(formatJobStats(s.ctx.queue, j, s.ctx.compat));
  }),
  byTube("stats-tube ", Op.StatsTube, (s, name) => {
    const t = s.ctx.queue.findTube(name);
    if (!t) return s.out.bytes(R.NOT_FOUND);
    s.sendYaml(formatTubeStats(s.ctx.queue, t, s.ctx.compat));
  }),
  bare("list-tubes", Op.ListTubes, (s) => s.sendYaml(formatTubeList(s.ctx.queue.tubes))),
  bare("list-tubes-watched", Op.ListTubesWatched, (s) => s.sendYaml(formatTubeList(s.conn.watch.items))),
];
