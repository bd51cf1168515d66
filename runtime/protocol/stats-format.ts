/**
 * The YAML bodies of stats, stats-tube, stats-job and the list commands, with
 * beanstalkd's keys, order and number formats. 1.13 quotes string values
 * (hostname, os, platform, name, tube); 1.12 does not.
 */

import { STATE_NAMES } from "../queue/jobs.ts";
import type { Queue } from "../queue/queue.ts";
import type { Tube } from "../queue/tube.ts";
import type { Compat, HostInfo } from "./context.ts";
import { Op } from "./ops.ts";

const q = (compat: Compat, s: string) => (compat === "1.12" ? s : `"${s}"`);

/** C's integer division of ms into whole seconds (truncates toward zero). */
const secs = (ms: number) => Math.trunc(ms / 1000);

function rusage(us: number): string {
  const s = Math.floor(us / 1e6);
  return `${s}.${String(Math.floor(us - s * 1e6)).padStart(6, "0")}`;
}

export function formatStats(queue: Queue, ops: Float64Array, host: HostInfo, compat: Compat): string {
  const cpu = host.cpuUsage();
  const j = queue.journal.stats();
  const n = queue.counters;
  return (
    "---\n" +
    `current-jobs-urgent: ${n.urgent}\n` +
    `current-jobs-ready: ${n.ready}\n` +
    `current-jobs-reserved: ${n.reserved}\n` +
    `current-jobs-delayed: ${n.delayed}\n` +
    `current-jobs-buried: ${n.buried}\n` +
    `cmd-put: ${ops[Op.Put]}\n` +
    `cmd-peek: ${ops[Op.Peek]}\n` +
    `cmd-peek-ready: ${ops[Op.PeekReady]}\n` +
    `cmd-peek-delayed: ${ops[Op.PeekDelayed]}\n` +
    `cmd-peek-buried: ${ops[Op.PeekBuried]}\n` +
    `cmd-reserve: ${ops[Op.Reserve]}\n` +
    `cmd-reserve-with-timeout: ${ops[Op.ReserveTimeout]}\n` +
    `cmd-delete: ${ops[Op.Delete]}\n` +
    `cmd-release: ${ops[Op.Release]}\n` +
    `cmd-use: ${ops[Op.Use]}\n` +
    `cmd-watch: ${ops[Op.Watch]}\n` +
    `cmd-ignore: ${ops[Op.Ignore]}\n` +
    `cmd-bury: ${ops[Op.Bury]}\n` +
    `cmd-kick: ${ops[Op.Kick]}\n` +
    `cmd-touch: ${ops[Op.Touch]}\n` +
    `cmd-stats: ${ops[Op.Stats]}\n` +
    `cmd-stats-job: ${ops[Op.StatsJob]}\n` +
    `cmd-stats-tube: ${ops[Op.StatsTube]}\n` +
    `cmd-list-tubes: ${ops[Op.ListTubes]}\n` +
    `cmd-list-tube-used: ${ops[Op.ListTubeUsed]}\n` +
    `cmd-list-tubes-watched: ${ops[Op.ListTubesWatched]}\n` +
    `cmd-pause-tube: ${ops[Op.PauseTube]}\n` +
    `job-timeouts: ${n.timeouts}\n` +
    `total-jobs: ${n.totalJobs}\n` +
    `max-job-size: ${queue.maxJobSize}\n` +
    `current-tubes: ${queue.tubes.length}\n` +
    `current-connections: ${n.connections}\n` +
    `current-producers: ${n.producers}\n` +
    `current-workers: ${n.workers}\n` +
    `current-waiting: ${n.waiting}\n` +
    `total-connections: ${n.totalConnections}\n` +
    `pid: ${host.pid}\n` +
    `version: "${host.version}"\n` +
    `rusage-utime: ${rusage(cpu.user)}\n` +
    `rusage-stime: ${rusage(cpu.system)}\n` +
    `uptime: ${secs(queue.clock.now() - queue.startedAt)}\n` +
    `binlog-oldest-index: ${j.oldestIndex}\n` +
    `binlog-current-index: ${j.currentIndex}\n` +
    `binlog-records-migrated: ${j.recordsMigrated}\n` +
    `binlog-records-written: ${j.recordsWritten}\n` +
    `binlog-max-size: ${j.maxSize}\n` +
    `draining: ${queue.draining ? "true" : "false"}\n` +
    `id: ${host.instanceId}\n` +
    `hostname: ${q(compat, host.hostname)}\n` +
    `os: ${q(compat, host.os)}\n` +
    `platform: ${q(compat, host.platform)}\n`
  );
}

export function formatTubeStats(queue: Queue, t: Tube, compat: Compat): string {
  const left = t.pause ? secs(t.unpauseAt - queue.clock.now()) : 0;
  return (
    "---\n" +
    `name: ${q(compat, t.name)}\n` +
    `current-jobs-urgent: ${t.urgent}\n` +
    `current-jobs-ready: ${t.ready.length}\n` +
    `current-jobs-reserved: ${t.reserved}\n` +
    `current-jobs-delayed: ${t.delay.length}\n` +
    `current-jobs-buried: ${t.buried.count}\n` +
    `total-jobs: ${t.totalJobs}\n` +
    `current-using: ${t.using}\n` +
    `current-watching: ${t.watching}\n` +
    `current-waiting: ${t.waiting.length}\n` +
    `cmd-delete: ${t.deletes}\n` +
    `cmd-pause-tube: ${t.pauses}\n` +
    `pause: ${secs(t.pause)}\n` +
    `pause-time-left: ${left}\n`
  );
}

export function formatJobStats(queue: Queue, slot: number, compat: Compat): string {
  const s = queue.store;
  const now = queue.clock.now();
  const state = s.state[slot]!;
  const timed = state === 2 /* Reserved */ || state === 4; /* Delayed */
  return (
    "---\n" +
    `id: ${s.id[slot]}\n` +
    `tube: ${q(compat, queue.tubeOf(slot).name)}\n` +
    `state: ${STATE_NAMES[state]}\n` +
    `pri: ${s.pri[slot]}\n` +
    `age: ${secs(now - s.created[slot]!)}\n` +
    `delay: ${s.delay[slot]}\n` +
    `ttr: ${s.ttr[slot]}\n` +
    `time-left: ${timed ? secs(s.deadline[slot]! - now) : 0}\n` +
    `file: ${s.persist[slot]}\n` +
    `reserves: ${s.reserves[slot]}\n` +
    `timeouts: ${s.timeouts[slot]}\n` +
    `releases: ${s.releases[slot]}\n` +
    `buries: ${s.buries[slot]}\n` +
    `kicks: ${s.kicks[slot]}\n`
  );
}

export function formatTubeList(tubes: readonly Tube[]): string {
  let s = "---\n";
  for (const t of tubes) s += `- ${t.name}\n`;
  return s;
}
