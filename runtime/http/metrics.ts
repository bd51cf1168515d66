/** The Prometheus text exposition format (version 0.0.4) of a Snapshot. */
import type { Snapshot } from "./snapshot.ts";

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export function prometheus(s: Snapshot): string {
  const out: string[] = [];
  const metric = (name: string, type: "gauge" | "counter", help: string, samples: [Record<string, string>, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) {
      const l = Object.entries(labels).map(([k, x]) => `${k}="${esc(x)}"`);
      out.push(`${name}${l.length ? `{${l.join(",")}}` : ""} ${v}`);
    }
  };
  const one = (v: number): [Record<string, string>, number][] => [[{}, v]];
  const perState = (pick: (st: string) => number) =>
    ["ready", "reserved", "delayed", "buried"].map((st): [Record<string, string>, number] => [{ state: st }, pick(st)]);

  metric("beanrun_up", "gauge", "1 while the server runs.", one(1));
  metric("beanrun_uptime_seconds", "gauge", "Seconds since the server started.", one(s.uptimeSeconds));
  metric("beanrun_draining", "gauge", "1 when new jobs are refused (drain mode).", one(s.draining ? 1 : 0));
  metric("beanrun_jobs", "gauge", "Jobs by state, all tubes.", perState((st) => s.jobs[st as "ready"]));
  metric("beanrun_jobs_urgent", "gauge", "Ready jobs with priority below 1024.", one(s.jobs.urgent));
  metric("beanrun_jobs_created_total", "counter", "Jobs created by put.", one(s.jobs.total));
  metric("beanrun_job_timeouts_total", "counter", "Reservations that ran past their TTR.", one(s.jobs.timeouts));
  metric("beanrun_connections", "gauge", "Open connections.", one(s.connections.current));
  metric("beanrun_connections_producers", "gauge", "Open connections that have put a job.", one(s.connections.producers));
  metric("beanrun_connections_workers", "gauge", "Open connections that have reserved a job.", one(s.connections.workers));
  metric("beanrun_connections_waiting", "gauge", "Connections blocked in a reserve.", one(s.connections.waiting));
  metric("beanrun_connections_total", "counter", "Connections accepted.", one(s.connections.total));
  metric(
    "beanrun_commands_total",
    "counter",
    "Commands received, by command.",
    Object.entries(s.commands).map(([cmd, v]): [Record<string, string>, number] => [{ command: cmd }, v]),
  );
  metric("beanrun_binlog_records_written_total", "counter", "Write-ahead log records written.", one(s.binlog.recordsWritten));
  metric("beanrun_binlog_current_index", "gauge", "Index of the current write-ahead log file.", one(s.binlog.currentIndex));

  const tubeMetric = (name: string, type: "gauge" | "counter", help: string, pick: (t: Snapshot["tubes"][number]) => number) =>
    metric(name, type, help, s.tubes.map((t): [Record<string, string>, number] => [{ tube: t.name }, pick(t)]));
  out.push("# HELP beanrun_tube_jobs Jobs in a tube by state.", "# TYPE beanrun_tube_jobs gauge");
  for (const t of s.tubes) {
    for (const st of ["ready", "reserved", "delayed", "buried"] as const) {
      out.push(`beanrun_tube_jobs{tube="${esc(t.name)}",state="${st}"} ${t[st]}`);
    }
  }
  tubeMetric("beanrun_tube_jobs_created_total", "counter", "Jobs created in a tube.", (t) => t.totalJobs);
  tubeMetric("beanrun_tube_deletes_total", "counter", "Jobs deleted from a tube.", (t) => t.deletes);
  tubeMetric("beanrun_tube_waiting", "gauge", "Connections waiting for a job on a tube.", (t) => t.waiting);
  tubeMetric("beanrun_tube_watching", "gauge", "Connections watching a tube.", (t) => t.watching);
  tubeMetric("beanrun_tube_paused_seconds", "gauge", "Seconds a tube stays paused.", (t) => t.pausedSecondsLeft);
  return out.join("\n") + "\n";
}
