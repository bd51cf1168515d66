/**
 * Commands on jobs: put, peek*, reserve*, delete, release, bury, kick,
 * kick-job, touch. Argument rules and the order of checks are beanstalkd's
 * (dispatch_cmd in prot.c), because clients can see them: e.g. `put` with an
 * oversized body says JOB_TOO_BIG (and skips the body) before it complains
 * about trailing bytes, and the counter moves before either.
 */

import { Result } from "../../queue/counters.ts";
import { JobState, NONE } from "../../queue/jobs.ts";
import type { Args } from "../args.ts";
import type { Session } from "../context.ts";
import { Op } from "../ops.ts";
import * as R from "../replies.ts";
import { bare, byId, type Family } from "./family.ts";

function put(s: Session, a: Args): void {
  const pri = a.u32();
  if (pri < 0) return s.out.bytes(R.BAD_FORMAT);
  const delay = a.u32();
  if (delay < 0) return s.out.bytes(R.BAD_FORMAT);
  const ttr = a.u32();
  if (ttr < 0) return s.out.bytes(R.BAD_FORMAT);
  const size = a.u32();
  if (size < 0) return s.out.bytes(R.BAD_FORMAT);
  const queue = s.ctx.queue;
  s.ctx.ops[Op.Put]++;
  if (size > queue.maxJobSize) return s.skip(size + 2, R.JOB_TOO_BIG);
  if (!a.empty) return s.out.bytes(R.BAD_FORMAT);
  queue.setProducer(s.conn);
  s.beginBody(queue.beginPut(s.conn, pri, delay, ttr, size + 2));
}

function found(s: Session, slot: number | undefined): void {
  if (slot === undefined) return s.out.bytes(R.NOT_FOUND);
  s.sendJob(R.FOUND, slot);
}

function reserve(s: Session, timeout: number): void {
  // Ok: the job went out through ConnEvents.reserved already.
  const r = s.ctx.queue.reserve(s.conn, timeout);
  if (r === Result.Waiting) s.block();
  else if (r !== Result.Ok) s.out.bytes(R.replyFor(r, R.INTERNAL_ERROR));
}

function reserveWithTimeout(s: Session, a: Args): void {
  let timeout: number;
  if (s.ctx.compat === "1.12") {
    const t = a.timeout112();
    if (t === null) return s.out.bytes(R.BAD_FORMAT);
    timeout = t;
  } else {
    timeout = a.u32();
    if (timeout < 0 || timeout > 0x7fffffff) return s.out.bytes(R.BAD_FORMAT);
  }
  s.ctx.ops[Op.ReserveTimeout]++;
  reserve(s, timeout);
}

function release(s: Session, a: Args): void {
  const id = a.u64();
  if (id < 0) return s.out.bytes(R.BAD_FORMAT);
  const pri = a.u32();
  if (pri < 0) return s.out.bytes(R.BAD_FORMAT);
  const delay = a.u32(true);
  if (delay < 0) return s.out.bytes(R.BAD_FORMAT);
  s.ctx.ops[Op.Release]++;
  s.out.bytes(R.replyFor(s.ctx.queue.release(s.conn, id, pri, delay), R.RELEASED));
}

function bury(s: Session, a: Args): void {
  const id = a.u64();
  if (id < 0) return s.out.bytes(R.BAD_FORMAT);
  const pri = a.u32(true);
  if (pri < 0) return s.out.bytes(R.BAD_FORMAT);
  s.ctx.ops[Op.Bury]++;
  s.out.bytes(R.replyFor(s.ctx.queue.bury(s.conn, id, pri), R.BURIED));
}

function kick(s: Session, a: Args): void {
  const n = a.kickCount();
  if (n < 0) return s.out.bytes(R.BAD_FORMAT);
  s.ctx.ops[Op.Kick]++;
  s.out.ascii("KICKED ");
  s.out.num(s.ctx.queue.kick(s.conn, n));
  s.out.crlf();
}

export const jobCommands: Family = [
  { word: "put ", op: Op.Put, run: put },
  byId("peek ", Op.Peek, (s, id) => {
    const queue = s.ctx.queue;
    const j = queue.find(id);
    found(s, j === NONE || queue.store.state[j] === JobState.Invalid ? undefined : j);
  }),
  bare("peek-ready", Op.PeekReady, (s) => found(s, s.conn.use.ready.peek())),
  bare("peek-delayed", Op.PeekDelayed, (s) => found(s, s.conn.use.delay.peek())),
  bare("peek-buried", Op.PeekBuried, (s) => {
    const b = s.conn.use.buried;
    found(s, b.count ? b.head : undefined);
  }),
  { word: "reserve-with-timeout ", op: Op.ReserveTimeout, run: reserveWithTimeout },
  // Ok: the job went out through ConnEvents.reserved.
  byId("reserve-job ", Op.ReserveJob, (s, id) => {
    if (s.ctx.queue.reserveJob(s.conn, id) !== Result.Ok) s.out.bytes(R.NOT_FOUND);
  }),
  bare("reserve", Op.Reserve, (s) => reserve(s, -1)),
  byId("delete ", Op.Delete, (s, id) => s.out.bytes(R.replyFor(s.ctx.queue.delete(s.conn, id), R.DELETED))),
  { word: "release ", op: Op.Release, run: release },
  { word: "bury ", op: Op.Bury, run: bury },
  { word: "kick ", op: Op.Kick, run: kick },
  byId("kick-job ", Op.KickJob, (s, id) => s.out.bytes(R.replyFor(s.ctx.queue.kickJob(id), R.KICKED))),
  byId("touch ", Op.Touch, (s, id) => s.out.bytes(R.replyFor(s.ctx.queue.touch(s.conn, id), R.TOUCHED))),
];
