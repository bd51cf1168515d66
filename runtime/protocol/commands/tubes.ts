/**
 * Commands on tubes and on what a connection uses and watches: use, watch,
 * ignore, list-tube-used, pause-tube, quit. Tube names follow beanstalkd's
 * is_valid_tube; pause-tube's odd order (the name's characters are scanned,
 * the delay parsed and the command counted before the name is validated)
 * is beanstalkd's too.
 */

import { Result } from "../../queue/counters.ts";
import { isValidTubeName } from "../../queue/tube.ts";
import type { Args } from "../args.ts";
import type { Session } from "../context.ts";
import { Op } from "../ops.ts";
import * as R from "../replies.ts";
import { bare, byTube, type Family } from "./family.ts";

function using(s: Session, name: string): void {
  s.out.ascii("USING ");
  s.out.ascii(name);
  s.out.crlf();
}

function watching(s: Session): void {
  s.out.ascii("WATCHING ");
  s.out.num(s.conn.watch.length);
  s.out.crlf();
}

function pauseTube(s: Session, a: Args): void {
  const len = a.nameAhead();
  if (len === 0) return s.out.bytes(R.BAD_FORMAT);
  const at = a.pos;
  a.pos += len;
  const delay = a.u32(true);
  if (delay < 0) return s.out.bytes(R.BAD_FORMAT);
  s.ctx.ops[Op.PauseTube]++;
  if (!isValidTubeName(a.buf, at, at + len)) return s.out.bytes(R.BAD_FORMAT);
  const t = s.ctx.queue.findTube(a.latin1(at, at + len));
  if (!t) return s.out.bytes(R.NOT_FOUND);
  s.ctx.queue.pauseTube(t, delay);
  s.out.bytes(R.PAUSED);
}

export const tubeCommands: Family = [
  byTube("use ", Op.Use, (s, name) => {
    s.ctx.queue.use(s.conn, name);
    using(s, name);
  }),
  byTube("watch ", Op.Watch, (s, name) => {
    s.ctx.queue.watch(s.conn, name);
    watching(s);
  }),
  byTube("ignore ", Op.Ignore, (s, name) => {
    if (s.ctx.queue.ignore(s.conn, name) === Result.NotIgnored) return s.out.bytes(R.NOT_IGNORED);
    watching(s);
  }),
  bare("list-tube-used", Op.ListTubeUsed, (s) => using(s, s.conn.use.name)),
  { word: "pause-tube", op: Op.PauseTube, run: pauseTube },
  // Not counted: beanstalkd has no cmd-quit.
  { word: "quit", op: Op.Quit, run: (s) => s.quit() },
];
