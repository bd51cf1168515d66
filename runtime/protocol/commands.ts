/**
 * Command dispatch: one complete command line (without its "\r\n") in, the
 * reply appended to the connection's output. Matching, argument parsing and
 * the order of checks follow beanstalkd's dispatch_cmd, because clients can
 * see them: a command is recognised by prefix ("reservex" is a malformed
 * reserve, not an unknown command), counters move before semantic checks,
 * and each command has its own rule for trailing bytes.
 */
import type { Connection } from "./connection.ts";
import { parsed, readKickCount, readTimeout112, readU32, readU64 } from "./numbers.ts";
import { isValidTubeName, nameSpan } from "../queue/tube.ts";
import { NONE, JobState } from "../queue/jobs.ts";
import { ReserveResult } from "../queue/queue.ts";
import { formatJobStats, formatStats, formatTubeList, formatTubeStats } from "./stats.ts";
import * as R from "./replies.ts";

export const enum Op {
  Unknown,
  Put,
  Peek,
  Reserve,
  Delete,
  Release,
  Bury,
  Kick,
  Stats,
  StatsJob,
  PeekBuried,
  Use,
  Watch,
  Ignore,
  ListTubes,
  ListTubeUsed,
  ListTubesWatched,
  StatsTube,
  PeekReady,
  PeekDelayed,
  ReserveTimeout,
  Touch,
  Quit,
  PauseTube,
  KickJob,
  ReserveJob,
  Count,
}

const enc = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** Prefixes in beanstalkd's which_cmd order: the first match wins. */
const PREFIXES: [Uint8Array, Op][] = (
  [
    ["put ", Op.Put],
    ["peek ", Op.Peek],
    ["peek-ready", Op.PeekReady],
    ["peek-delayed", Op.PeekDelayed],
    ["peek-buried", Op.PeekBuried],
    ["reserve-with-timeout ", Op.ReserveTimeout],
    ["reserve-job ", Op.ReserveJob],
    ["reserve", Op.Reserve],
    ["delete ", Op.Delete],
    ["release ", Op.Release],
    ["bury ", Op.Bury],
    ["kick ", Op.Kick],
    ["kick-job ", Op.KickJob],
    ["touch ", Op.Touch],
    ["stats-job ", Op.StatsJob],
    ["stats-tube ", Op.StatsTube],
    ["stats", Op.Stats],
    ["use ", Op.Use],
    ["watch ", Op.Watch],
    ["ignore ", Op.Ignore],
    ["list-tubes-watched", Op.ListTubesWatched],
    ["list-tube-used", Op.ListTubeUsed],
    ["list-tubes", Op.ListTubes],
    ["quit", Op.Quit],
    ["pause-tube", Op.PauseTube],
  ] as const
).map(([s, op]) => [enc(s), op]);

/** First-byte index into PREFIXES, so matching costs one or two comparisons. */
const BY_FIRST: [Uint8Array, Op][][] = Array.from({ length: 256 }, () => []);
for (const p of PREFIXES) BY_FIRST[p[0][0]!]!.push(p);

/** Where the arguments of the last command `which` matched begin. */
let argAt = 0;

function which(buf: Uint8Array, start: number, end: number): Op {
  const candidates = BY_FIRST[buf[start]!]!;
  outer: for (let k = 0; k < candidates.length; k++) {
    const [prefix, op] = candidates[k]!;
    const n = prefix.length;
    if (end - start < n) continue;
    for (let i = 1; i < n; i++) if (buf[start + i] !== prefix[i]) continue outer;
    argAt = start + n;
    return op;
  }
  argAt = start;
  return Op.Unknown;
}

/**
 * The command in buf[start, end) and where its arguments begin: the same
 * matching for every dispatcher (the PostgreSQL front end has its own).
 */
export function matchCommand(buf: Uint8Array, start: number, end: number): { op: Op; argAt: number } {
  const op = which(buf, start, end);
  return { op, argAt };
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]!);
  return s;
}

/** Dispatches the command in buf[start, end). */
export function dispatch(c: Connection, buf: Uint8Array, start: number, end: number): void {
  const out = c.out;
  // A NUL byte inside the line: beanstalkd sees a shorter C string.
  for (let i = start; i < end; i++) if (buf[i] === 0) return out.bytes(R.BAD_FORMAT);

  const op = which(buf, start, end);
  const ctx = c.ctx;
  const queue = ctx.queue;
  const ops = ctx.ops;
  const qc = c.conn;
  const exact = argAt === end;

  switch (op) {
    case Op.Put: {
      const pri = readU32(buf, argAt, end);
      if (pri < 0) return out.bytes(R.BAD_FORMAT);
      const delay = readU32(buf, parsed.end, end);
      if (delay < 0) return out.bytes(R.BAD_FORMAT);
      const ttr = readU32(buf, parsed.end, end);
      if (ttr < 0) return out.bytes(R.BAD_FORMAT);
      const size = readU32(buf, parsed.end, end);
      if (size < 0) return out.bytes(R.BAD_FORMAT);
      const trailing = parsed.end !== end;
      ops[Op.Put]++;
      if (size > queue.maxJobSize) return c.skip(size + 2, R.JOB_TOO_BIG);
      if (trailing) return out.bytes(R.BAD_FORMAT);
      queue.setProducer(qc);
      return c.beginBody(queue.beginPut(qc, pri, delay, ttr, size + 2));
    }

    case Op.PeekReady:
    case Op.PeekDelayed:
    case Op.PeekBuried: {
      if (!exact) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      const t = qc.use;
      const j =
        op === Op.PeekReady ? t.ready.peek() : op === Op.PeekDelayed ? t.delay.peek() : t.buried.count ? t.buried.head : undefined;
      if (j === undefined) return out.bytes(R.NOT_FOUND);
      return c.sendJob(R.FOUND, j);
    }

    case Op.Peek: {
      const id = readU64(buf, argAt, end, true);
      if (id < 0) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      const j = queue.find(id);
      if (j === NONE || queue.store.state[j] === JobState.Invalid) return out.bytes(R.NOT_FOUND);
      return c.sendJob(R.FOUND, j);
    }

    case Op.ReserveTimeout:
    case Op.Reserve: {
      let timeout = -1;
      if (op === Op.ReserveTimeout) {
        if (ctx.compat === "1.12") {
          const t = readTimeout112(buf, argAt, end);
          if (t === null) return out.bytes(R.BAD_FORMAT);
          timeout = t;
        } else {
          const t = readU32(buf, argAt, end);
          if (t < 0 || t > 0x7fffffff) return out.bytes(R.BAD_FORMAT);
          timeout = t;
        }
      } else if (!exact) {
        return out.bytes(R.BAD_FORMAT);
      }
      ops[op]++;
      if (queue.reserve(qc, timeout) === ReserveResult.DeadlineSoon) return out.bytes(R.DEADLINE_SOON);
      // Either a job was delivered through events.reserved already, or we wait.
      if (qc.waiting) c.block();
      return;
    }

    case Op.ReserveJob: {
      const id = readU64(buf, argAt, end, true);
      if (id < 0) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      const j = queue.reserveJob(qc, id);
      if (j === NONE) return out.bytes(R.NOT_FOUND);
      return c.sendJob(R.RESERVED, j);
    }

    case Op.Delete: {
      const id = readU64(buf, argAt, end, true);
      if (id < 0) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      return out.bytes(queue.delete(qc, id) ? R.DELETED : R.NOT_FOUND);
    }

    case Op.Release: {
      const id = readU64(buf, argAt, end);
      if (id < 0) return out.bytes(R.BAD_FORMAT);
      const pri = readU32(buf, parsed.end, end);
      if (pri < 0) return out.bytes(R.BAD_FORMAT);
      const delay = readU32(buf, parsed.end, end, true);
      if (delay < 0) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      const r = queue.release(qc, id, pri, delay);
      return out.bytes(r === "released" ? R.RELEASED : r === "not-found" ? R.NOT_FOUND : R.OUT_OF_MEMORY);
    }

    case Op.Bury: {
      const id = readU64(buf, argAt, end);
      if (id < 0) return out.bytes(R.BAD_FORMAT);
      const pri = readU32(buf, parsed.end, end, true);
      if (pri < 0) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      const r = queue.bury(qc, id, pri);
      return out.bytes(r === "buried" ? R.BURIED : r === "not-found" ? R.NOT_FOUND : R.OUT_OF_MEMORY);
    }

    case Op.Kick: {
      const n = readKickCount(buf, argAt, end);
      if (n < 0) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      out.ascii("KICKED ");
      out.num(queue.kick(qc, n));
      return out.crlf();
    }

    case Op.KickJob: {
      const id = readU64(buf, argAt, end, true);
      if (id < 0) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      return out.bytes(queue.kickJob(id) ? R.KICKED : R.NOT_FOUND);
    }

    case Op.Touch: {
      const id = readU64(buf, argAt, end, true);
      if (id < 0) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      return out.bytes(queue.touch(qc, id) ? R.TOUCHED : R.NOT_FOUND);
    }

    case Op.Stats: {
      if (!exact) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      return c.sendYaml(formatStats(queue, ops, ctx.host, ctx.compat));
    }

    case Op.StatsJob: {
      const id = readU64(buf, argAt, end, true);
      if (id < 0) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      const j = queue.find(id);
      if (j === NONE) return out.bytes(R.NOT_FOUND);
      return c.sendYaml(formatJobStats(queue, j, ctx.compat));
    }

    case Op.StatsTube: {
      if (!isValidTubeName(buf, argAt, end)) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      const t = queue.findTube(latin1(buf, argAt, end));
      if (!t) return out.bytes(R.NOT_FOUND);
      return c.sendYaml(formatTubeStats(queue, t, ctx.compat));
    }

    case Op.ListTubes:
    case Op.ListTubesWatched: {
      if (!exact) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      return c.sendYaml(formatTubeList(op === Op.ListTubes ? queue.tubes.items : qc.watch.items));
    }

    case Op.ListTubeUsed: {
      if (!exact) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      out.ascii("USING ");
      out.ascii(qc.use.name);
      return out.crlf();
    }

    case Op.Use:
    case Op.Watch:
    case Op.Ignore: {
      if (!isValidTubeName(buf, argAt, end)) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      const name = latin1(buf, argAt, end);
      if (op === Op.Use) {
        queue.use(qc, name);
        out.ascii("USING ");
        out.ascii(name);
        return out.crlf();
      }
      const n = op === Op.Watch ? queue.watch(qc, name) : queue.ignore(qc, name);
      if (n < 0) return out.bytes(R.NOT_IGNORED);
      out.ascii("WATCHING ");
      out.num(n);
      return out.crlf();
    }

    case Op.Quit:
      return c.quit();

    case Op.PauseTube: {
      let p = argAt;
      while (p < end && buf[p] === 0x20) p++;
      const nameLen = nameSpan(buf, p, end);
      if (nameLen === 0) return out.bytes(R.BAD_FORMAT);
      const delay = readU32(buf, p + nameLen, end, true);
      if (delay < 0) return out.bytes(R.BAD_FORMAT);
      ops[op]++;
      if (!isValidTubeName(buf, p, p + nameLen)) return out.bytes(R.BAD_FORMAT);
      const t = queue.findTube(latin1(buf, p, p + nameLen));
      if (!t) return out.bytes(R.NOT_FOUND);
      queue.pauseTube(t, delay);
      return out.bytes(R.PAUSED);
    }

    default:
      return out.bytes(R.UNKNOWN_COMMAND);
  }
}
