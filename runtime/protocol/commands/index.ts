/**
 * Command dispatch: one complete command line (without its "\r\n") in, the
 * reply appended to the session's output. The words of every command family
 * go into one prefix table (ops.ts: longest prefix wins, which is
 * beanstalkd's which_cmd order); the matched command parses its own
 * arguments from the session's cursor. A line that is no command and looks
 * like HTTP closes the connection (cross-protocol.ts).
 */

import type { Args } from "../args.ts";
import type { Session } from "../context.ts";
import { looksLikeHttp, warnCrossProtocol } from "../cross-protocol.ts";
import { Op, PrefixTable } from "../ops.ts";
import * as R from "../replies.ts";
import { extensionCommands } from "./extensions.ts";
import type { Command } from "./family.ts";
import { jobCommands } from "./jobs.ts";
import { statsCommands } from "./stats.ts";
import { tubeCommands } from "./tubes.ts";

const FAMILIES = [jobCommands, tubeCommands, statsCommands, extensionCommands];

const table = new PrefixTable<Command>(FAMILIES.flatMap((f) => f.map((c) => [c.word, c] as const)));

/**
 * The command in buf[start, end) by Op and where its arguments begin, for a
 * dispatcher with its own handlers (the PostgreSQL front end): the same words
 * and matching as dispatch.
 */
export function matchCommand(buf: Uint8Array, start: number, end: number): { op: Op; argAt: number } {
  const e = table.match(buf, start, end);
  return e === undefined ? { op: Op.Unknown, argAt: start } : { op: e.value.op, argAt: start + e.word.length };
}

/** Dispatches the command in buf[start, end), reading its arguments with the session's cursor `args`. */
export function dispatch(s: Session, args: Args, buf: Uint8Array, start: number, end: number): void {
  // A NUL byte inside the line: beanstalkd sees a shorter C string.
  for (let i = start; i < end; i++) if (buf[i] === 0) return s.out.bytes(R.BAD_FORMAT);
  const e = table.match(buf, start, end);
  if (e === undefined) {
    if (!looksLikeHttp(buf, start, end)) return s.out.bytes(R.UNKNOWN_COMMAND);
    warnCrossProtocol(s.ctx);
    return s.quit();
  }
  e.value.run(s, args.reset(buf, start + e.word.length, end));
}
