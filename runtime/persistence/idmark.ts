/**
 * The id high-water mark: `DIR/ids`, a 1024-byte file holding "no job id
 * at or above M was ever acknowledged", in two 32-byte slots (offsets 0 and
 * 512, written alternately so a torn or damaged write leaves the other).
 *
 * The log moves the mark BLOCK ids ahead of the ids it writes, in the same
 * batch as (or before) the first record that needs it, so it is durable
 * whenever such a record is. A log without damage knows its exact next id
 * from its records; after damage, recovery jumps to the mark, past every id
 * that could have been handed out, whatever the damaged range held.
 *
 * Slot: 0 magic "BEANRUNI", 8 u32 version (1), 12 u32 generation, 16 f64
 * mark, 24 u32 CRC-32 of bytes 0..24, 28 u32 zero.
 */
import * as fs from "node:fs";
import { join } from "node:path";
import type { RecordBuffer } from "./buffer.ts";
import { crc32 } from "./crc.ts";
import { codeOf } from "./errors.ts";
import { newSegment, type Segment, syncDir } from "./segment.ts";

export const IDS_FILE = "ids";
export const ID_BLOCK = 16384;
const SLOT = 32;
const SLOT_GAP = 512;
const FILE_SIZE = 1024;
const MAGIC = new TextEncoder().encode("BEANRUNI");

export interface IdMarkState {
  /** The highest valid mark found (0 if none). */
  mark: number;
  generation: number;
  /** What was wrong with the file, for the report. */
  problem: string | null;
}

function readSlot(buf: Uint8Array, at: number): { mark: number; generation: number } | null {
  if (buf.length < at + SLOT) return null;
  const b = buf.subarray(at, at + SLOT);
  for (let i = 0; i < 8; i++) if (b[i] !== MAGIC[i]) return null;
  const v = new DataView(b.buffer, b.byteOffset, SLOT);
  if (v.getUint32(24, true) !== crc32(b.subarray(0, 24))) return null;
  return { generation: v.getUint32(12, true), mark: v.getFloat64(16, true) };
}

/** Reads the mark file of `dir`, if there is one. */
export function readIdMark(dir: string): IdMarkState {
  let buf: Uint8Array;
  try {
    buf = fs.readFileSync(join(dir, IDS_FILE));
  } catch (e) {
    return { mark: 0, generation: 0, problem: codeOf(e) === "ENOENT" ? "missing" : String(e) };
  }
  const a = readSlot(buf, 0);
  const b = readSlot(buf, SLOT_GAP);
  const used = [0, SLOT_GAP].filter((o) => buf.length >= o + SLOT && buf.subarray(o, o + SLOT).some((x) => x !== 0)).length;
  const valid = [a, b].filter((x) => x !== null);
  const best = valid.sort((x, y) => y.mark - x.mark)[0];
  return {
    mark: best?.mark ?? 0,
    generation: Math.max(a?.generation ?? 0, b?.generation ?? 0),
    problem: valid.length < used ? "a damaged slot" : null,
  };
}

/** The open mark file: encodes slot writes into the log's batches. */
export class IdMark {
  /** The value last written (durable once its batch is). */
  mark: number;
  private generation: number;
  readonly seg: Segment;

  private constructor(fd: number, dir: string, state: IdMarkState) {
    this.mark = state.mark;
    this.generation = state.generation;
    this.seg = { ...newSegment(dir, 0, fd, FILE_SIZE), path: join(dir, IDS_FILE) };
  }

  /** Opens (creating it if needed) the mark file and makes `atLeast` durable in it, synchronously. */
  static open(dir: string, state: IdMarkState, atLeast: number): IdMark {
    const path = join(dir, IDS_FILE);
    let fd: number;
    try {
      fd = fs.openSync(path, "r+");
    } catch (e) {
      if (codeOf(e) !== "ENOENT") throw e;
      fd = fs.openSync(path, "wx+", 0o644);
      fs.writeSync(fd, new Uint8Array(FILE_SIZE), 0, FILE_SIZE, 0);
      syncDir(dir);
    }
    const m = new IdMark(fd, dir, state);
    const buf = new Uint8Array(SLOT);
    const pos = m.encode(buf, 0, Math.max(atLeast, state.mark));
    fs.writeSync(fd, buf, 0, SLOT, pos);
    fs.fdatasyncSync(fd);
    return m;
  }

  /** open(), or null with a warning when the file cannot be written (ids after damage then rest on the readable records). */
  static openOrWarn(dir: string, state: IdMarkState, atLeast: number, log: (msg: string) => void): IdMark | null {
    try {
      return IdMark.open(dir, state, atLeast);
    } catch (e) {
      log(
        `WARNING: cannot write the ids file in ${dir}: ${(e as Error).message}; after damage to the log, ids would rest on its readable records alone`,
      );
      return null;
    }
  }

  /** Whether writing a record for `id` needs a new mark first (kept ID_BLOCK/2 ahead). */
  needs(id: number): boolean {
    return id + ID_BLOCK / 2 >= this.mark;
  }

  /** Encodes the next slot with `mark` into buf[at..at+32]; returns the file offset it goes to. */
  encode(buf: Uint8Array, at: number, mark: number): number {
    this.generation++;
    this.mark = mark;
    const v = new DataView(buf.buffer, buf.byteOffset + at, SLOT);
    buf.set(MAGIC, at);
    v.setUint32(8, 1, true);
    v.setUint32(12, this.generation, true);
    v.setFloat64(16, mark, true);
    v.setUint32(24, crc32(buf.subarray(at, at + 24)), true);
    v.setUint32(28, 0, true);
    return (this.generation % 2) * SLOT_GAP;
  }

  /** Adds the write of a new mark (`id` + ID_BLOCK) to the pending batch, ahead of the record for `id`. */
  advance(buffer: RecordBuffer, id: number): void {
    this.seg.pos = ((this.generation + 1) % 2) * SLOT_GAP;
    const at = buffer.append(this.seg, SLOT);
    this.encode(buffer.buf, at, id + ID_BLOCK);
    buffer.len += SLOT;
  }

  close(): void {
    fs.closeSync(this.seg.fd);
  }
}
