/**
 * The commands by number (`Op`), the names stats and the HTTP snapshot report
 * them under, and how a command line selects its command (`PrefixTable`).
 * Op numbers index the per-command counters (`ProtocolContext.ops`): stable
 * within a process, not a wire format. This file imports nothing, so stats,
 * the snapshot and the command families can all use it without circles.
 *
 * Matching is beanstalkd's which_cmd: a command is recognised by prefix
 * ("reservex" is a malformed reserve, not an unknown command). which_cmd
 * tries its prefixes in a fixed order, and wherever one prefix is a prefix of
 * another ("reserve" / "reserve-job ", "stats" / "stats-tube ",
 * "list-tubes" / "list-tubes-watched") the longer comes first. So the
 * longest matching prefix wins, which is the rule used here: it gives the
 * same answers and lets a family add words without knowing the others.
 */
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
  /** Number of counters; commands added by extensions are not counted in `stats`. */
  Count,
}

/** Command names as `stats` and the HTTP snapshot spell them, in the snapshot's order. */
export const COMMAND_NAMES: readonly (readonly [string, Op])[] = [
  ["put", Op.Put],
  ["peek", Op.Peek],
  ["peek-ready", Op.PeekReady],
  ["peek-delayed", Op.PeekDelayed],
  ["peek-buried", Op.PeekBuried],
  ["reserve", Op.Reserve],
  ["reserve-with-timeout", Op.ReserveTimeout],
  ["reserve-job", Op.ReserveJob],
  ["delete", Op.Delete],
  ["release", Op.Release],
  ["use", Op.Use],
  ["watch", Op.Watch],
  ["ignore", Op.Ignore],
  ["bury", Op.Bury],
  ["kick", Op.Kick],
  ["kick-job", Op.KickJob],
  ["touch", Op.Touch],
  ["stats", Op.Stats],
  ["stats-job", Op.StatsJob],
  ["stats-tube", Op.StatsTube],
  ["list-tubes", Op.ListTubes],
  ["list-tube-used", Op.ListTubeUsed],
  ["list-tubes-watched", Op.ListTubesWatched],
  ["pause-tube", Op.PauseTube],
];

const enc = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** One word of a PrefixTable: its bytes (including any trailing space) and what it selects. */
export interface Entry<T> {
  readonly word: Uint8Array;
  readonly value: T;
}

/** Longest-prefix matching over command words, indexed by first byte (one or two comparisons per line). */
export class PrefixTable<T> {
  private readonly byFirst: Entry<T>[][] = Array.from({ length: 256 }, () => []);

  constructor(words: Iterable<readonly [string, T]>) {
    for (const [w, value] of words) {
      if (w.length === 0) throw new Error("a command word cannot be empty");
      const bucket = this.byFirst[w.charCodeAt(0) & 0xff]!;
      if (bucket.some((e) => e.word.length === w.length && String.fromCharCode(...e.word) === w)) {
        throw new Error(`command word ${JSON.stringify(w)} is registered twice`);
      }
      bucket.push({ word: enc(w), value });
      bucket.sort((a, b) => b.word.length - a.word.length);
    }
  }

  /** The entry whose word is the longest prefix of buf[start, end), or undefined. */
  match(buf: Uint8Array, start: number, end: number): Entry<T> | undefined {
    const candidates = this.byFirst[buf[start]!];
    if (candidates === undefined) return undefined;
    outer: for (let k = 0; k < candidates.length; k++) {
      const e = candidates[k]!;
      const w = e.word;
      const n = w.length;
      if (end - start < n) continue;
      for (let i = 1; i < n; i++) if (buf[start + i] !== w[i]) continue outer;
      return e;
    }
    return undefined;
  }
}
