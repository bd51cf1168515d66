/**
 * A report on a cron schedule: every minute (at second 0) the runner enqueues
 * this job; the handler reads the server's statistics and writes a Markdown
 * report (BEANRUN_REPORTS, default tmp/reports/queue-report.md), logging a
 * one-line summary. Change `schedule` to e.g. "0 0 8 * * 1-5" for 08:00 on
 * weekdays.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { Client, defineJob } from "../runtime/index.ts";

export default defineJob({
  tube: "queue-report",
  schema: v.object({ title: v.optional(v.string(), "Queue report") }),
  schedule: { cron: "0 * * * * *", payload: { title: "Queue report (every minute)" }, timezone: "UTC" },
  ttr: 30,
  retries: { attempts: 2 },
  async handler({ title }, ctx) {
    const [host, port] = (process.env.BEANRUN_SERVER ?? "127.0.0.1:11300").split(/:(?=\d+$)/);
    const c = await Client.connect({ host, port: Number(port) });
    try {
      const s = await c.stats();
      const tubes = await c.listTubes();
      const rows: string[] = [];
      let buried = 0;
      for (const t of tubes) {
        const ts = await c.statsTube(t);
        buried += Number(ts["current-jobs-buried"]);
        rows.push(
          `| ${t} | ${ts["current-jobs-ready"]} | ${ts["current-jobs-delayed"]} | ${ts["current-jobs-reserved"]} | ${ts["current-jobs-buried"]} | ${ts["total-jobs"]} |`,
        );
      }
      const md = [
        `# ${title}`,
        "",
        `Generated ${new Date().toISOString()} by job #${ctx.id}; server up ${s.uptime} s, ${s["total-jobs"]} jobs since start.`,
        "",
        "| tube | ready | delayed | reserved | buried | total |",
        "|---|---|---|---|---|---|",
        ...rows,
        "",
        buried ? `**${buried} buried job(s)**: inspect with peek-buried, retry with kick.` : "No buried jobs.",
        "",
      ].join("\n");
      const dir = process.env.BEANRUN_REPORTS ?? "tmp/reports";
      mkdirSync(dir, { recursive: true });
      const path = join(dir, "queue-report.md");
      writeFileSync(`${path}.tmp`, md);
      renameSync(`${path}.tmp`, path);
      ctx.log.info("report written", { path, tubes: tubes.length, buried });
    } finally {
      c.close();
    }
  },
});
