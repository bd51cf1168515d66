/**
 * The on-disk record format of beanrun's write-ahead log (FORMAT.md describes
 * it for humans). Everything is little-endian.
 *
 * File header (HEADER_SIZE bytes):
 *   0  8  magic "BEANRUNW"
 *   8  u32 format version (FORMAT_VERSION)
 *   12 u32 file sequence number (the N of wal.N)
 *   16 f64 next job id at the moment the file was started
 *   24 u32 CRC-32 of bytes 0..24
 *   28 u32 zero
 *
 * Record: u32 length (whole record), u32 CRC-32 of bytes 8..length, u8 type, ...
 * A length of 0 marks the end of the data (files are preallocated with zeros).
 */
import { crc32 } from "./crc.ts";

export const MAGIC = "BEANRUNW";
export const FORMAT_VERSION = 1;
export const HEADER_SIZE = 32;

export const REC_JOB = 1;
export const REC_DELETE = 2;

export const JOB_FIXED = 72;
export const DELETE_SIZE = 24;

/** States as stored in a job record. */
export const ST_READY = 1;
export const ST_BURIED = 3;
export const ST_DELAYED = 4;

export interface JobRecord {
  type: typeof REC_JOB;
  state: number;
  pri: number;
  delay: number;
  ttr: number;
  id: number;
  /** Wall-clock milliseconds. */
  created: number;
  /** Wall-clock milliseconds when the delay ends (delayed jobs), else 0. */
  deadline: number;
  reserves: number;
  timeouts: number;
  releases: number;
  buries: number;
  kicks: number;
  tube: string;
  /** Without the trailing "\r\n". */
  body: Uint8Array;
}

export interface DeleteRecord {
  type: typeof REC_DELETE;
  id: number;
}

export interface FileHeader {
  version: number;
  seq: number;
  nextId: number;
}

export function jobRecordSize(tubeLen: number, bodyLen: number): number {
  return JOB_FIXED + tubeLen + bodyLen;
}

const MAGIC_BYTES = new TextEncoder().encode(MAGIC);

export function encodeHeader(buf: Uint8Array, off: number, seq: number, nextId: number): void {
  const v = new DataView(buf.buffer, buf.byteOffset + off, HEADER_SIZE);
  buf.set(MAGIC_BYTES, off);
  v.setUint32(8, FORMAT_VERSION, true);
  v.setUint32(12, seq, true);
  v.setFloat64(16, nextId, true);
  v.setUint32(24, crc32(buf.subarray(off, off + 24)), true);
  v.setUint32(28, 0, true);
}

export type HeaderResult =
  | { kind: "empty" }
  | { kind: "ok"; header: FileHeader }
  | { kind: "bad"; reason: string };

export function decodeHeader(buf: Uint8Array): HeaderResult {
  if (buf.length < HEADER_SIZE) {
    return buf.every((b) => b === 0) ? { kind: "empty" } : { kind: "bad", reason: "file shorter than its header" };
  }
  const head = buf.subarray(0, HEADER_SIZE);
  if (head.every((b) => b === 0)) return { kind: "empty" };
  for (let i = 0; i < 8; i++) {
    if (buf[i] !== MAGIC_BYTES[i]) return { kind: "bad", reason: "not a beanrun log file (wrong magic)" };
  }
  const v = new DataView(buf.buffer, buf.byteOffset, HEADER_SIZE);
  if (v.getUint32(24, true) !== crc32(buf.subarray(0, 24))) return { kind: "bad", reason: "header checksum mismatch" };
  return {
    kind: "ok",
    header: { version: v.getUint32(8, true), seq: v.getUint32(12, true), nextId: v.getFloat64(16, true) },
  };
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

export function encodeTubeName(name: string): Uint8Array {
  return utf8.encode(name);
}

/** Fields of a job record other than tube and body, in the order they are stored. */
export interface JobFields {
  state: number;
  pri: number;
  delay: number;
  ttr: number;
  id: number;
  created: number;
  deadline: number;
  reserves: number;
  timeouts: number;
  releases: number;
  buries: number;
  kicks: number;
}

/** Writes a job record at buf[off]; buf must have room for jobRecordSize(). Returns its size. */
export function encodeJob(
  buf: Uint8Array,
  view: DataView,
  off: number,
  f: JobFields,
  tube: Uint8Array,
  body: Uint8Array,
  bodyLen: number,
): number {
  const len = JOB_FIXED + tube.length + bodyLen;
  view.setUint32(off, len, true);
  buf[off + 8] = REC_JOB;
  buf[off + 9] = f.state;
  view.setUint16(off + 10, tube.length, true);
  view.setUint32(off + 12, f.pri, true);
  view.setUint32(off + 16, f.delay, true);
  view.setUint32(off + 20, f.ttr, true);
  view.setFloat64(off + 24, f.id, true);
  view.setFloat64(off + 32, f.created, true);
  view.setFloat64(off + 40, f.deadline, true);
  view.setUint32(off + 48, f.reserves, true);
  view.setUint32(off + 52, f.timeouts, true);
  view.setUint32(off + 56, f.releases, true);
  view.setUint32(off + 60, f.buries, true);
  view.setUint32(off + 64, f.kicks, true);
  view.setUint32(off + 68, bodyLen, true);
  buf.set(tube, off + JOB_FIXED);
  buf.set(bodyLen === body.length ? body : body.subarray(0, bodyLen), off + JOB_FIXED + tube.length);
  view.setUint32(off + 4, crc32(buf.subarray(off + 8, off + len)), true);
  return len;
}

export function encodeDelete(buf: Uint8Array, view: DataView, off: number, id: number): number {
  view.setUint32(off, DELETE_SIZE, true);
  buf[off + 8] = REC_DELETE;
  buf[off + 9] = 0;
  buf[off + 10] = 0;
  buf[off + 11] = 0;
  view.setUint32(off + 12, 0, true);
  view.setFloat64(off + 16, id, true);
  view.setUint32(off + 4, crc32(buf.subarray(off + 8, off + DELETE_SIZE)), true);
  return DELETE_SIZE;
}

export type DecodeResult =
  | { kind: "end" }
  | { kind: "bad"; reason: string }
  | { kind: "record"; size: number; record: JobRecord | DeleteRecord };

/** Decodes the record at buf[off], reading no further than buf.length. */
export function decodeRecord(buf: Uint8Array, off: number): DecodeResult {
  const left = buf.length - off;
  if (left < 8) {
    for (let i = off; i < buf.length; i++) if (buf[i] !== 0) return { kind: "bad", reason: "partial record header" };
    return { kind: "end" };
  }
  const v = new DataView(buf.buffer, buf.byteOffset + off, left);
  const len = v.getUint32(0, true);
  if (len === 0) {
    // The end marker is zero padding; anything else after it is not ours.
    return v.getUint32(4, true) === 0 ? { kind: "end" } : { kind: "bad", reason: "garbage after the end of the data" };
  }
  if (len < DELETE_SIZE) return { kind: "bad", reason: `record length ${len} is too small` };
  if (len > left) return { kind: "bad", reason: `record of ${len} bytes runs past the end of the file (torn write)` };
  const crc = v.getUint32(4, true);
  if (crc32(buf.subarray(off + 8, off + len)) !== crc) return { kind: "bad", reason: "checksum mismatch" };
  const type = buf[off + 8];
  if (type === REC_DELETE) {
    if (len !== DELETE_SIZE) return { kind: "bad", reason: "delete record of the wrong size" };
    return { kind: "record", size: len, record: { type: REC_DELETE, id: v.getFloat64(16, true) } };
  }
  if (type !== REC_JOB) return { kind: "bad", reason: `unknown record type ${type}` };
  if (len < JOB_FIXED) return { kind: "bad", reason: "job record too small" };
  const tubeLen = v.getUint16(10, true);
  const bodyLen = v.getUint32(68, true);
  if (JOB_FIXED + tubeLen + bodyLen !== len) return { kind: "bad", reason: "job record sizes disagree" };
  const state = buf[off + 9]!;
  if (state !== ST_READY && state !== ST_BURIED && state !== ST_DELAYED) {
    return { kind: "bad", reason: `job record with unknown state ${state}` };
  }
  const t0 = off + JOB_FIXED;
  return {
    kind: "record",
    size: len,
    record: {
      type: REC_JOB,
      state,
      pri: v.getUint32(12, true),
      delay: v.getUint32(16, true),
      ttr: v.getUint32(20, true),
      id: v.getFloat64(24, true),
      created: v.getFloat64(32, true),
      deadline: v.getFloat64(40, true),
      reserves: v.getUint32(48, true),
      timeouts: v.getUint32(52, true),
      releases: v.getUint32(56, true),
      buries: v.getUint32(60, true),
      kicks: v.getUint32(64, true),
      tube: utf8d.decode(buf.subarray(t0, t0 + tubeLen)),
      body: buf.slice(t0 + tubeLen, t0 + tubeLen + bodyLen),
    },
  };
}
