/**
 * Reading one log file's records, skipping damage.
 *
 * Records are read in order. A record that fails its checks starts a
 * damaged range; reading resumes at the next offset where a whole record
 * checks out again (its length fits, its key - version 2 - and checksum
 * match, its fields are consistent). For version 2 files the search looks
 * only where the file's random key appears, which is fast and cannot be
 * fooled by a crafted job body; version 1 files (no key) are searched byte
 * by byte. A zero length field ends the data only if nothing but zeros
 * follows; otherwise it is damage too (a zeroed length, say).
 */
import { type DecodeResult, decodeRecord, HEADER_SIZE, isZero, type Layout, peekRecord } from "./format.ts";

export interface Damage {
  /** Offsets of the damaged bytes in the file: [start, end). */
  start: number;
  end: number;
  reason: string;
  /** Whether valid records follow in this file (else the damage runs to the end of the data). */
  resumed: boolean;
  /** Records that seem to start in the range (unverified), for the report. */
  seen: { type: "job" | "delete"; id: number; at: number }[];
}

export interface FileScan {
  damage: Damage[];
  /** Offset after the last valid record (where new records could go). */
  end: number;
}

type Found = Extract<DecodeResult, { kind: "record" }>;

function lastNonZero(buf: Uint8Array, from: number): number {
  for (let i = buf.length - 1; i >= from; i--) if (buf[i] !== 0) return i;
  return -1;
}

/** The first offset after `from` where a valid record starts, or -1. */
function resync(buf: Uint8Array, from: number, layout: Layout): number {
  if (layout.version >= 2) {
    const key = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, layout.key, true);
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
    for (let k = b.indexOf(key, from + 8); k >= 0; k = b.indexOf(key, k + 1)) {
      if (decodeRecord(buf, k - 8, layout).kind === "record") return k - 8;
    }
    return -1;
  }
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  for (let o = from; o + 24 <= buf.length; o++) {
    const len = v.getUint32(o, true);
    if (len < 24 || len > buf.length - o) continue;
    const t = buf[o + 8];
    if ((t === 1 || t === 2) && decodeRecord(buf, o, layout).kind === "record") return o;
  }
  return -1;
}

/** Records that seem to start inside [start, end), for the report. */
function seenIn(buf: Uint8Array, start: number, end: number, layout: Layout): Damage["seen"] {
  const out: Damage["seen"] = [];
  const add = (at: number): void => {
    const p = peekRecord(buf.subarray(0, end), at, layout);
    if (p && !out.some((x) => x.id === p.id && x.type === p.type)) out.push({ ...p, at });
  };
  add(start);
  if (layout.version >= 2) {
    const key = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, layout.key, true);
    const b = Buffer.from(buf.buffer, buf.byteOffset, end);
    for (let k = b.indexOf(key, start + 9); k >= 0 && k < end; k = b.indexOf(key, k + 1)) add(k - 8);
  }
  return out;
}

/** Reads the records of a file (header already checked), calling `onRecord` for each valid one in order. */
export function scanFile(buf: Uint8Array, layout: Layout, onRecord: (r: Found, off: number) => void): FileScan {
  const damage: Damage[] = [];
  let off = HEADER_SIZE;
  let end = HEADER_SIZE;
  while (off < buf.length) {
    const r = decodeRecord(buf, off, layout);
    if (r.kind === "record") {
      onRecord(r, off);
      off += r.size;
      end = off;
      continue;
    }
    if (r.kind === "end" && isZero(buf, off, buf.length)) break;
    const reason = r.kind === "bad" ? r.reason : "a zero length field with data after it";
    const next = resync(buf, off + 1, layout);
    const stop = next >= 0 ? next : lastNonZero(buf, off) + 1;
    damage.push({ start: off, end: Math.max(stop, off + 1), reason, resumed: next >= 0, seen: seenIn(buf, off, stop, layout) });
    if (next < 0) break;
    off = next;
  }
  return { damage, end };
}
