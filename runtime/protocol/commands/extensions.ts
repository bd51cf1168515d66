/**
 * Commands beanrun adds to the beanstalkd protocol. Adding a command family
 * is a change to this file alone: declare the commands (see family.ts for
 * `Command` and the `bare`/`byId`/`byTube` openings; `op: Op.Unknown`, as
 * extensions have no beanstalkd counter) and list them in
 * `extensionCommands`; commands/index.ts already registers this list.
 *
 * Words are matched by longest prefix (ops.ts), so a new word that extends a
 * beanstalkd word ("stats-foo") takes precedence over it for lines that start
 * with it and changes nothing else. Extension commands have no `stats`
 * counter (beanstalkd's stats lists a fixed set).
 */

import { NONE } from "../../queue/jobs.ts";
import type { Args } from "../args.ts";
import type { Session } from "../context.ts";
import { Op } from "../ops.ts";
import * as R from "../replies.ts";
import type { Command, Family } from "./family.ts";

/** Largest failure record `note` accepts, in bytes. */
export const MAX_NOTE_BYTES = 32768;
const NOTED = Uint8Array.from("NOTED\r\n", (c) => c.charCodeAt(0));
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** `note <id> <bytes>\r\n<data>\r\n`: sets the job's failure record (docs/protocol-extensions.md). */
function note(s: Session, a: Args): void {
  const failures = s.ctx.failures;
  if (!failures) return s.out.bytes(R.UNKNOWN_COMMAND);
  const id = a.u64();
  if (id < 0) return s.out.bytes(R.BAD_FORMAT);
  const n = a.u32(true);
  if (n < 0) return s.out.bytes(R.BAD_FORMAT);
  if (n > MAX_NOTE_BYTES) return s.skip(n + 2, R.JOB_TOO_BIG);
  s.readData(n, (data) => {
    if (s.ctx.queue.find(id) === NONE) return s.out.bytes(R.NOT_FOUND);
    let text: string;
    try {
      text = utf8.decode(data);
    } catch {
      return s.out.bytes(R.BAD_FORMAT);
    }
    s.out.bytes(failures.set(id, text) ? NOTED : R.BAD_FORMAT);
  });
}

/** `peek-note <id>\r\n`: FOUND <id> <bytes> with the record, or NOT_FOUND. */
function peekNote(s: Session, a: Args): void {
  const failures = s.ctx.failures;
  if (!failures) return s.out.bytes(R.UNKNOWN_COMMAND);
  const id = a.u64(true);
  if (id < 0) return s.out.bytes(R.BAD_FORMAT);
  const text = failures.getText(id);
  if (text === undefined) return s.out.bytes(R.NOT_FOUND);
  const bytes = new TextEncoder().encode(text);
  s.out.ascii(R.FOUND);
  s.out.num(id);
  s.out.ascii(" ");
  s.out.num(bytes.length);
  s.out.crlf();
  s.out.copy(bytes, 0, bytes.length);
  s.out.crlf();
}

export const extensionCommands: Family = [
  { word: "note ", op: Op.Unknown, run: note } satisfies Command,
  { word: "peek-note ", op: Op.Unknown, run: peekNote } satisfies Command,
];
