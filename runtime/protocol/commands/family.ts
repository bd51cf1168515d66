/**
 * How a command is declared. A family is a list of commands; commands/index.ts
 * puts every family's words into one prefix table. The openings most commands
 * share (parse the id, BAD_FORMAT if it is malformed, count the command) are
 * written once here, in the order beanstalkd checks them: the counter moves
 * after the arguments parse and before any semantic check.
 */

import type { Args } from "../args.ts";
import type { Session } from "../context.ts";
import type { Op } from "../ops.ts";
import * as R from "../replies.ts";

export interface Command {
  /** The prefix beanstalkd matches, with its trailing space where it has one ("put ", "stats"). */
  readonly word: string;
  /** Its counter and identity for dispatchers that switch on Op (Op.Unknown for extensions). */
  readonly op: Op;
  /** Runs the command; `a` is positioned just after the word, at the line's arguments. */
  run(s: Session, a: Args): void;
}

export type Family = readonly Command[];

/** A command that takes no arguments: anything after the word is BAD_FORMAT. */
export function bare(word: string, op: Op, run: (s: Session) => void): Command {
  return {
    word,
    op,
    run(s, a) {
      if (!a.empty) return s.out.bytes(R.BAD_FORMAT);
      s.ctx.ops[op]++;
      run(s);
    },
  };
}

/** A command whose only argument is a job id running to the end of the line. */
export function byId(word: string, op: Op, run: (s: Session, id: number) => void): Command {
  return {
    word,
    op,
    run(s, a) {
      const id = a.u64(true);
      if (id < 0) return s.out.bytes(R.BAD_FORMAT);
      s.ctx.ops[op]++;
      run(s, id);
    },
  };
}

/** A command whose only argument is a tube name running to the end of the line. */
export function byTube(word: string, op: Op, run: (s: Session, name: string) => void): Command {
  return {
    word,
    op,
    run(s, a) {
      const name = a.tubeName();
      if (name === null) return s.out.bytes(R.BAD_FORMAT);
      s.ctx.ops[op]++;
      run(s, name);
    },
  };
}
