/**
 * The Prometheus text exposition format (version 0.0.4) of a Snapshot and of
 * the runner's job outcomes. Names follow Prometheus conventions: counters
 * end in _total, units are base units (seconds), and no two families share a
 * name once _total is stripped (a gauge X beside a counter X_total is one
 * family to a parser, so the open-connections gauge is
 * beanrun_connections_open). test/http-metrics.test.ts checks the output with
 * the reference Python parser.
 *
 * Two expositions: the server's (`serve`/`run --http`: the queue, plus the
 * runner's outcomes and worker processes when one runs in the process) and
 * a runner's alone (`run --connect ... --http`: runner-http.ts).
 */
import { DURATION_BUCKETS, type Outcomes } from "./outcomes.ts";
import type { RunnerView, WorkerView } from "./runner-view.ts";
import { COMMIT_BUCKETS, type Snapshot, type StoreSnapshot } from "./snapshot.ts";

export interface BuildInfo {
  version: string;
  protocol: string;
  runtime: string;
}

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

type Samples = [Record<string, string>, number][];
type Metric = (name: string, type: "gauge" | "counter", help: string, samples: Samples) => void;

/** A family writer over `out`: HELP, TYPE, then one line per sample. */
function writer(out: string[]): Metric {
  return (name, type, help, samples) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) {
      const l = Object.entries(labels).map(([k, x]) => `${k}="${esc(x)}"`);
      out.push(`${name}${l.length ? `{${l.join(",")}}` : ""} ${v}`);
    }
  };
}

/** The server's metrics, the runner's job outcomes and, when a runner runs in this process, its worker processes. */
export function prometheus(s: Snapshot, build: BuildInfo, outcomes?: Outcomes, runner?: RunnerView): string {
  const out: string[] = [];
  const metric = writer(out);
  const one = (v: number): [Record<string, string>, number][] => [[{}, v]];
  const perState = (pick: (st: string) => number) =>
    ["ready", "reserved", "delayed", "buried"].map((st): [Record<string, string>, number] => [{ state: st }, pick(st)]);

  metric("beanrun_build_info", "gauge", "Always 1; the labels say which beanrun this is.", [[{ ...build }, 1]]);
  metric("beanrun_up", "gauge", "1 while the server runs.", one(1));
  metric("beanrun_uptime_seconds", "gauge", "Seconds since the server started.", one(s.uptimeSeconds));
  metric("beanrun_draining", "gauge", "1 when new jobs are refused (drain mode).", one(s.draining ? 1 : 0));
  metric(
    "beanrun_jobs",
    "gauge",
    "Jobs by state, all tubes.",
    perState((st) => s.jobs[st as "ready"]),
  );
  metric("beanrun_jobs_urgent", "gauge", "Ready jobs with priority below 1024.", one(s.jobs.urgent));
  metric("beanrun_jobs_created_total", "counter", "Jobs created by put.", one(s.jobs.total));
  metric("beanrun_job_timeouts_total", "counter", "Reservations that ran past their TTR.", one(s.jobs.timeouts));
  metric("beanrun_connections_open", "gauge", "Open connections.", one(s.connections.current));
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
    metric(
      name,
      type,
      help,
      s.tubes.map((t): [Record<string, string>, number] => [{ tube: t.name }, pick(t)]),
    );
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
  if (s.store) storeMetrics(s.store, metric, out);
  if (outcomes) outcomeMetrics(outcomes, metric, out);
  if (runner) workerMetrics(runner, metric);
  return out.join("\n") + "\n";
}

/** A PostgreSQL front end's transactions to its database (`--store`): this process's own, not the cluster's. */
function storeMetrics(st: StoreSnapshot, metric: Metric, out: string[]): void {
  const one = (v: number): Samples => [[{}, v]];
  metric(
    "beanrun_store_transactions_total",
    "counter",
    "Transactions of batched commands committed by this front end.",
    one(st.transactions),
  );
  metric("beanrun_store_commands_total", "counter", "Commands committed in those transactions.", one(st.commands));
  metric(
    "beanrun_store_failures_total",
    "counter",
    "Batches that failed: the database connection (the lane reconnects) or a statement (its commands re-run one per transaction).",
    [
      [{ cause: "connection" }, st.failures.connection],
      [{ cause: "statement" }, st.failures.statement],
    ],
  );
  metric("beanrun_store_retries_total", "counter", "Batches retried after a deadlock or serialization failure.", one(st.retries));
  metric("beanrun_store_lanes", "gauge", "Transactions this front end may have in flight at once.", one(st.lanes));
  metric("beanrun_store_lanes_busy", "gauge", "Transactions in flight now.", one(st.lanesBusy));
  const h = "beanrun_store_commit_seconds";
  out.push(`# HELP ${h} From a batch's start to its commit (replies leave after it).`, `# TYPE ${h} histogram`);
  histogramSamples(out, h, "", COMMIT_BUCKETS, st.commitBuckets, st.commitSum, st.transactions);
}

/**
 * A runner with no server in its process (`run --connect ... --http`, a
 * worker pod): its build, whether it reaches its server, its worker
 * processes and its job outcomes, per tube.
 */
export function runnerPrometheus(build: Omit<BuildInfo, "protocol">, connected: boolean, outcomes: Outcomes, runner: RunnerView): string {
  const out: string[] = [];
  const metric = writer(out);
  metric("beanrun_build_info", "gauge", "Always 1; the labels say which beanrun this is.", [[{ ...build }, 1]]);
  metric("beanrun_runner_connected", "gauge", "1 while the runner reaches its server.", [[{}, connected ? 1 : 0]]);
  workerMetrics(runner, metric);
  outcomeMetrics(outcomes, metric, out);
  return out.join("\n") + "\n";
}

/** Worker processes per tube, from the runner's view. */
function workerMetrics(runner: RunnerView, metric: Metric): void {
  const workers = runner.workers();
  const per = (pick: (w: WorkerView) => number): Samples => workers.map((w): Samples[number] => [{ tube: w.tube }, pick(w)]);
  metric(
    "beanrun_worker_processes",
    "gauge",
    "Worker processes alive or starting, per tube (0 while a tube is idle).",
    per((w) => w.pids.length),
  );
  metric(
    "beanrun_worker_starts_total",
    "counter",
    "Worker processes started, per tube (cold starts, scale-outs, replacements).",
    per((w) => w.starts),
  );
  metric(
    "beanrun_module_failed",
    "gauge",
    "1 while the tube's job module does not load (no worker starts until its file changes).",
    per((w) => (w.loadError === undefined ? 0 : 1)),
  );
}

/** Job outcomes per tube, as counters and one histogram (only when a runner feeds them). */
function outcomeMetrics(o: Outcomes, metric: Metric, out: string[]): void {
  const tubes = [...o.tubes.entries()];
  const per = (pick: (t: (typeof tubes)[number][1]) => number) =>
    tubes.map(([tube, t]): [Record<string, string>, number] => [{ tube }, pick(t)]);
  metric(
    "beanrun_jobs_done_total",
    "counter",
    "Jobs whose handler succeeded, per tube.",
    per((t) => t.done),
  );
  metric(
    "beanrun_jobs_failed_total",
    "counter",
    "Failed attempts (retried, buried, timed out or invalid), per tube.",
    per((t) => t.failed),
  );
  metric(
    "beanrun_jobs_retried_total",
    "counter",
    "Failed attempts released for a retry, per tube.",
    per((t) => t.retried),
  );
  metric(
    "beanrun_jobs_buried_total",
    "counter",
    "Jobs buried by the runner (out of attempts or invalid), per tube.",
    per((t) => t.buried),
  );
  metric(
    "beanrun_worker_restarts_total",
    "counter",
    "Worker processes restarted after an unexpected exit, per tube.",
    per((t) => t.workerRestarts),
  );
  metric(
    "beanrun_schedule_ticks_total",
    "counter",
    "Cron ticks that put a job, per tube.",
    per((t) => t.scheduleTicks),
  );
  metric(
    "beanrun_schedule_misses_total",
    "counter",
    "Cron ticks that could not put their job, per tube.",
    per((t) => t.scheduleMisses),
  );
  const h = "beanrun_job_duration_seconds";
  out.push(`# HELP ${h} Handler run time per attempt.`, `# TYPE ${h} histogram`);
  for (const [tube, t] of tubes)
    histogramSamples(out, h, `tube="${esc(tube)}"`, DURATION_BUCKETS, t.buckets, t.durationSum, t.durationCount);
}

/**
 * One histogram's samples for one label set (`labels`: rendered, "" for none):
 * a cumulative count per bound, then +Inf (`buckets` holds bounds.length + 1
 * counts), the sum and the count.
 */
function histogramSamples(
  out: string[],
  name: string,
  labels: string,
  bounds: readonly number[],
  buckets: readonly number[],
  sum: number,
  count: number,
): void {
  const l = labels ? `${labels},` : "";
  bounds.forEach((le, i) => out.push(`${name}_bucket{${l}le="${le}"} ${buckets[i]}`));
  out.push(`${name}_bucket{${l}le="+Inf"} ${buckets[bounds.length]}`);
  const tail = labels ? `{${labels}}` : "";
  out.push(`${name}_sum${tail} ${sum}`, `${name}_count${tail} ${count}`);
}
