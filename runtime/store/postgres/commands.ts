/**
 * Command dispatch for a PostgreSQL-backed front end: the protocol's own
 * matching (matchCommand), number parsing and reply bytes, with the same
 * order of checks as runtime/protocol/commands/ (so bad input gets the same
 * reply whichever store serves it), and the store's statements instead of
 * the in-memory queue. Commands about the connection itself (use, watch,
 * ignore, list-tube-used, list-tubes-watched, quit) never touch the database.
 * Commands are grouped in four families, one function each, and FAMILY maps
 * every command to its family.
 */

import { Args } from "../../protocol/args.ts";
import { matchCommand } from "../../protocol/commands/index.ts";
import { Op } from "../../protocol/ops.ts";
import * as R from "../../protocol/replies.ts";
import { isValidTubeName, nameSpan } from "../../queue/tube.ts";
import type { Step } from "./group-commit.ts";
import * as I from "./inspect.ts";
import { jobReply, lineReply, yamlReply } from "./reply-bytes.ts";
import type { Session } from "./session.ts";
import * as S from "./statements.ts";

function latin1(buf: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]!);
  return s;
}

const yes = (ok: Uint8Array) => (r: boolean) => (r ? ok : R.NOT_FOUND);
const found = (j: S.JobBody | undefined) => (j ? jobReply(R.FOUND, j.id, j.body) : R.NOT_FOUND);

/** One parsed command line: what every family of commands below needs. */
interface Call {
  s: Session;
  ctx: Session["ctx"];
  ops: Session["ctx"]["ops"];
  a: Args;
  buf: Uint8Array;
  argAt: number;
  end: number;
  /** No argument text after the command word. */
  exact: boolean;
  /** Runs a step in the next group-commit batch and replies with its result (durable: waits for the flush). */
  run<T>(step: Step<T>, reply: (v: T) => Uint8Array, durable?: boolean): void;
}

/** Put, peek and reserve: what hands a job out or takes one in. */
function putOrReserve(c: Call, op: Op): void {
  const { s, ctx, ops, a, exact, run } = c;
  switch (op) {
    case Op.Put: {
      const pri = a.u32();
      if (pri < 0) return s.reply(R.BAD_FORMAT);
      const delay = a.u32();
      if (delay < 0) return s.reply(R.BAD_FORMAT);
      const ttr = a.u32();
      if (ttr < 0) return s.reply(R.BAD_FORMAT);
      const size = a.u32();
      if (size < 0) return s.reply(R.BAD_FORMAT);
      const trailing = !a.empty;
      ops[Op.Put]++;
      if (size > ctx.maxJobSize) return s.skip(size + 2);
      if (trailing) return s.reply(R.BAD_FORMAT);
      s.producer = true;
      return s.beginBody(pri, delay, ttr, size);
    }

    case Op.PeekReady:
    case Op.PeekDelayed:
    case Op.PeekBuried: {
      if (!exact) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      const kind = op === Op.PeekReady ? "ready" : op === Op.PeekDelayed ? "delayed" : "buried";
      return run(S.peekTube(kind, s.use), found, false);
    }

    case Op.Peek: {
      const id = a.u64(true);
      if (id < 0) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      if (!Number.isSafeInteger(id)) return s.reply(R.NOT_FOUND);
      return run(S.peekId(id), found, false);
    }

    case Op.ReserveTimeout:
    case Op.Reserve: {
      let timeout = -1;
      if (op === Op.ReserveTimeout) {
        if (ctx.compat === "1.12") {
          const t = a.timeout112();
          if (t === null) return s.reply(R.BAD_FORMAT);
          timeout = t;
        } else {
          const t = a.u32();
          if (t < 0 || t > 0x7fffffff) return s.reply(R.BAD_FORMAT);
          timeout = t;
        }
      } else if (!exact) {
        return s.reply(R.BAD_FORMAT);
      }
      ops[op]++;
      return s.reserve(timeout < 0 ? -1 : timeout * 1000);
    }

    case Op.ReserveJob: {
      const id = a.u64(true);
      if (id < 0) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      if (!Number.isSafeInteger(id)) return s.reply(R.NOT_FOUND);
      return run(
        S.reserveJob(s.owner, id),
        (j) => {
          if (!j) return R.NOT_FOUND;
          s.worker = true;
          s.reserved.set(j.id, Date.now() + j.ttr * 1000);
          ctx.front.dueIn(j.ttr * 1000);
          return jobReply(R.RESERVED, j.id, j.body);
        },
        false,
      );
    }
    default:
      return s.reply(R.UNKNOWN_COMMAND);
  }
}

/** Delete, release, bury, kick, kick-job and touch: what changes a job the connection names. */
function changeJob(c: Call, op: Op): void {
  const { s, ctx, ops, a, run } = c;
  switch (op) {
    case Op.Delete: {
      const id = a.u64(true);
      if (id < 0) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      if (!Number.isSafeInteger(id)) return s.reply(R.NOT_FOUND);
      s.reserved.delete(id);
      return run(S.remove(s.owner, id), yes(R.DELETED));
    }

    case Op.Release: {
      const id = a.u64();
      if (id < 0) return s.reply(R.BAD_FORMAT);
      const pri = a.u32();
      if (pri < 0) return s.reply(R.BAD_FORMAT);
      const delay = a.u32(true);
      if (delay < 0) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      if (!Number.isSafeInteger(id)) return s.reply(R.NOT_FOUND);
      s.reserved.delete(id);
      if (delay > 0) ctx.front.dueIn(delay * 1000);
      return run(S.release(s.owner, id, pri, delay), yes(R.RELEASED));
    }

    case Op.Bury: {
      const id = a.u64();
      if (id < 0) return s.reply(R.BAD_FORMAT);
      const pri = a.u32(true);
      if (pri < 0) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      if (!Number.isSafeInteger(id)) return s.reply(R.NOT_FOUND);
      s.reserved.delete(id);
      return run(S.bury(s.owner, id, pri), yes(R.BURIED));
    }

    case Op.Kick: {
      const n = a.kickCount();
      if (n < 0) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      return run(S.kick(s.use, n), (k) => lineReply(`KICKED ${k}`));
    }

    case Op.KickJob: {
      const id = a.u64(true);
      if (id < 0) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      if (!Number.isSafeInteger(id)) return s.reply(R.NOT_FOUND);
      return run(S.kickJob(id), yes(R.KICKED));
    }

    case Op.Touch: {
      const id = a.u64(true);
      if (id < 0) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      if (!Number.isSafeInteger(id)) return s.reply(R.NOT_FOUND);
      return run(
        S.touch(s.owner, id),
        (ttr) => {
          if (ttr < 0) return R.NOT_FOUND;
          s.reserved.set(id, Date.now() + ttr * 1000);
          ctx.front.dueIn(ttr * 1000);
          return R.TOUCHED;
        },
        false,
      );
    }
    default:
      return s.reply(R.UNKNOWN_COMMAND);
  }
}

/** Stats, stats-job, stats-tube and list-tubes: reads across the cluster. */
function inspect(c: Call, op: Op): void {
  const { s, ctx, ops, a, exact, run, buf, argAt, end } = c;
  switch (op) {
    case Op.Stats: {
      if (!exact) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      const local = ctx.snapshot();
      return run(I.serverStats(ctx.front.id), (r) => yamlReply(ctx.formatStats(r, local)), false);
    }

    case Op.StatsJob: {
      const id = a.u64(true);
      if (id < 0) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      if (!Number.isSafeInteger(id)) return s.reply(R.NOT_FOUND);
      return run(I.jobStats(id), (j) => (j ? yamlReply(I.formatJob(j, ctx.compat)) : R.NOT_FOUND), false);
    }

    case Op.StatsTube: {
      if (!isValidTubeName(buf, argAt, end)) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      const name = latin1(buf, argAt, end);
      const refs = ctx.refs.get(name);
      const local = { using: refs?.using ?? 0, watching: refs?.watching ?? 0, waiting: ctx.waitingOn(name) };
      return run(
        I.tubeStats(name, ctx.front.id),
        (t) => {
          const jobs = t.ready + t.reserved + t.delayed + t.buried;
          if (!refs && !t.referenced && jobs === 0 && t.pauseLeftMs <= 0) return R.NOT_FOUND;
          return yamlReply(I.formatTube(name, t, local, ctx.compat));
        },
        false,
      );
    }

    case Op.ListTubes: {
      if (!exact) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      const localTubes = [...ctx.refs.keys()];
      return run(
        I.liveTubes(ctx.front.id),
        (names) => {
          const all = new Set(["default", ...localTubes, ...names]);
          return yamlReply(I.formatTubeNames([...all]));
        },
        false,
      );
    }
    default:
      return s.reply(R.UNKNOWN_COMMAND);
  }
}

/** What the connection uses and watches, quit, and pause-tube. */
function connectionTubes(c: Call, op: Op): void {
  const { s, ctx, ops, a, exact, run, buf, argAt, end } = c;
  switch (op) {
    case Op.ListTubesWatched: {
      if (!exact) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      return s.reply(yamlReply(I.formatTubeNames(s.watch)));
    }

    case Op.ListTubeUsed: {
      if (!exact) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      return s.reply(lineReply(`USING ${s.use}`));
    }

    case Op.Use:
    case Op.Watch:
    case Op.Ignore: {
      if (!isValidTubeName(buf, argAt, end)) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      const name = latin1(buf, argAt, end);
      if (op === Op.Use) {
        ctx.tubeRef(s.use, "using", -1);
        s.use = name;
        ctx.tubeRef(name, "using", 1);
        return s.reply(lineReply(`USING ${name}`));
      }
      const at = s.watch.indexOf(name);
      if (op === Op.Watch && at < 0) {
        s.watch = [...s.watch, name];
        ctx.tubeRef(name, "watching", 1);
      } else if (op === Op.Ignore && at >= 0) {
        if (s.watch.length === 1) return s.reply(R.NOT_IGNORED);
        // beanstalkd's list removal: the last watched tube moves into the hole.
        const next = [...s.watch];
        next[at] = next[next.length - 1]!;
        next.pop();
        s.watch = next;
        ctx.tubeRef(name, "watching", -1);
      }
      return s.reply(lineReply(`WATCHING ${s.watch.length}`));
    }

    case Op.Quit:
      return s.quit();

    case Op.PauseTube: {
      let p = argAt;
      while (p < end && buf[p] === 0x20) p++;
      const nameLen = nameSpan(buf, p, end);
      if (nameLen === 0) return s.reply(R.BAD_FORMAT);
      a.pos = p + nameLen;
      const delay = a.u32(true);
      if (delay < 0) return s.reply(R.BAD_FORMAT);
      ops[op]++;
      if (!isValidTubeName(buf, p, p + nameLen)) return s.reply(R.BAD_FORMAT);
      const name = latin1(buf, p, p + nameLen);
      if (delay > 0) ctx.front.dueIn(delay * 1000);
      return run(S.pauseTube(name, delay, !ctx.refs.has(name), ctx.front.id), yes(R.PAUSED));
    }
    default:
      return s.reply(R.UNKNOWN_COMMAND);
  }
}

/** Which family handles each command; anything else is UNKNOWN_COMMAND. */
const FAMILY = new Map<Op, (c: Call, op: Op) => void>();
for (const op of [Op.Put, Op.PeekReady, Op.PeekDelayed, Op.PeekBuried, Op.Peek, Op.ReserveTimeout, Op.Reserve, Op.ReserveJob])
  FAMILY.set(op, putOrReserve);
for (const op of [Op.Delete, Op.Release, Op.Bury, Op.Kick, Op.KickJob, Op.Touch]) FAMILY.set(op, changeJob);
for (const op of [Op.Stats, Op.StatsJob, Op.StatsTube, Op.ListTubes]) FAMILY.set(op, inspect);
for (const op of [Op.ListTubesWatched, Op.ListTubeUsed, Op.Use, Op.Watch, Op.Ignore, Op.Quit, Op.PauseTube])
  FAMILY.set(op, connectionTubes);

/** Parses one command line and hands it to its family (or answers UNKNOWN_COMMAND). */
export function dispatch(s: Session, buf: Uint8Array, start: number, end: number): void {
  for (let i = start; i < end; i++) if (buf[i] === 0) return s.reply(R.BAD_FORMAT);
  const { op, argAt } = matchCommand(buf, start, end);
  const ctx = s.ctx;
  const ops = ctx.ops;
  const exact = argAt === end;
  const a = new Args().reset(buf, argAt, end);
  const run = <T>(step: Step<T>, reply: (v: T) => Uint8Array, durable = true): void => s.later(ctx.front.run(step, s, durable).then(reply));

  const family = FAMILY.get(op);
  if (!family) return s.reply(R.UNKNOWN_COMMAND);
  family({ s, ctx, ops, a, buf, argAt, end, exact, run }, op);
}
