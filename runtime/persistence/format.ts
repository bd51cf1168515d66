/**
 * The on-disk record format of beanrun's write-ahead log (FORMAT.md describes
 * it for humans). Everything is little-endian.
 *
 * File header (HEADER_SIZE bytes), version 2:
 *   0  8  magic "BEANRUNW"
 *   8  u32 format version
 *   12 u32 file sequence number (the N of wal.N)
 *   16 f64 next job id at the moment the file was started
 *   24 u32 record key: a random number repeated in every record of the file
 *   28 u32 CRC-32 of bytes 0..28
 * (Version 1, still read: CRC-32 of bytes 0..24 at 24, zero at 28, no key.)
 *
 * Record, version 2: u32 length (whole record), u32 CRC-32 of bytes
 * 8..length, u32 the file's key, u8 type, ... The key lets a reader find the
 * next record after a damaged one (resynchronise) without being fooled by a
 * job body that contains bytes shaped like a record: bodies come from
 * clients, the key is random per file and never leaves the server.
 * Version 1 records have no key: their fields sit 4 bytes earlier.
 * A length of 0 marks the end of the data (files are preallocated with zeros).
 */
import { crc32 } from "./crc.ts";

export const MAGIC = "BEANRUNW";
export const FORMAT_VERSION = 2;
export const HEADER_SIZE = 32;

export const REC_JOB = 1;
export const REC_DELETE = 2;

/** Bytes before a job record's tube name, and a delete record's size (version 2). */
export const JOB_FIXED = 76;
export const DELETE_SIZE = 28;
/** The smallest record of any version (a version 1 delete). */
export const MIN_RECORD = 24;

/** States as stored in a job record. */
export const ST_READY = 1;
export const ST_BURIED = 3;
export const ST_DELAYED = 4;

/** Fields of a job record other than tube and body, in the order they are stored. */
export interface JobFields {
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
}

/** A decoded job record: its fields, tube and body. */
export interface JobRecord extends JobFields {
  type: typeof REC_JOB;
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
  /** The record key (version 2; 0 for version 1). */
  key: number;
}

/** How a file's records are laid out: version 1 (no key) or 2 (key at 8). */
export interface Layout {
  version: number;
  key: number;
}

export function jobRecordSize(tubeLen: number, bodyLen: number): number {
  return JOB_FIXED + tubeLen + bodyLen;
}

const MAGIC_BYTES = new TextEncoder().encode(MAGIC);

export function encodeHeader(buf: Uint8Array, off: number, seq: number, nextId: number, key: number): void {
  const v = new DataView(buf.buffer, buf.byteOffset + off, HEADER_SIZE);
  buf.set(MAGIC_BYTES, off);
  v.setUint32(8, FORMAT_VERSION, true);
  v.setUint32(12, seq, true);
  v.setFloat64(16, nextId, true);
  v.setUint32(24, key, true);
  v.setUint32(28, crc32(buf.subarray(off, off + 28)), true);
}

export type HeaderResult =
  | { kind: "empty" }
  | { kind: "ok"; header: FileHeader }
  /** `guess`: the fields as they read, when the magic is right but the checksum is not. */
  | { kind: "bad"; reason: string; guess?: FileHeader };

function fields(v: DataView): FileHeader {
  const version = v.getUint32(8, true);
  return { version, seq: v.getUint32(12, true), nextId: v.getFloat64(16, true), key: version >= 2 ? v.getUint32(24, true) : 0 };
}

export function decodeHeader(buf: Uint8Array): HeaderResult {
  if (buf.length < HEADER_SIZE) {
    return isZero(buf, 0, buf.length) ? { kind: "empty" } : { kind: "bad", reason: "file shorter than its header" };
  }
  if (isZero(buf, 0, HEADER_SIZE)) return { kind: "empty" };
  for (let i = 0; i < 8; i++) {
    if (buf[i] !== MAGIC_BYTES[i]) return { kind: "bad", reason: "not a beanrun log file (wrong magic)" };
  }
  const v = new DataView(buf.buffer, buf.byteOffset, HEADER_SIZE);
  const h = fields(v);
  if (v.getUint32(28, true) === crc32(buf.subarray(0, 28)) && h.version >= 2) return { kind: "ok", header: h };
  if (v.getUint32(24, true) === crc32(buf.subarray(0, 24)) && v.getUint32(28, true) === 0) {
    return { kind: "ok", header: { ...h, key: 0 } };
  }
  return { kind: "bad", reason: "header checksum mismatch", guess: h };
}

const ZEROS = new Uint8Array(1 << 16);

/** Whether buf[from, to) is all zeros (compared natively, 64 KiB at a time: recovery checks whole files). */
export function isZero(buf: Uint8Array, from: number, to: number): boolean {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  for (let i = from; i < to; i += ZEROS.length) {
    const n = Math.min(ZEROS.length, to - i);
    if (b.compare(ZEROS, 0, n, i, i + n) !== 0) return false;
  }
  return true;
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

export function encodeTubeName(name: string): Uint8Array {
  return utf8.encode(name);
}

/** Writes a job record at buf[off]; buf must have room for jobRecordSize(). Returns its size. */
export function encodeJob(
  buf: Uint8Array,
  view: DataView,
  off: number,
  key: number,
  f: JobFields,
  tube: Uint8Array,
  body: Uint8Array,
  bodyLen: number,
): number {
  const len = JOB_FIXED + tube.length + bodyLen;
  view.setUint32(off, len, true);
  view.setUint32(off + 8, key, true);
  buf[off + 12] = REC_JOB;
  buf[off + 13] = f.state;
  view.setUint16(off + 14, tube.length, true);
  view.setUint32(off + 16, f.pri, true);
  view.setUint32(off + 20, f.delay, true);
  view.setUint32(off + 24, f.ttr, true);
  view.setFloat64(off + 28, f.id, true);
  view.setFloat64(off + 36, f.created, true);
  view.setFloat64(off + 44, f.deadline, true);
  view.setUint32(off + 52, f.reserves, true);
  view.setUint32(off + 56, f.timeouts, true);
  view.setUint32(off + 60, f.releases, true);
  view.setUint32(off + 64, f.buries, true);
  view.setUint32(off + 68, f.kicks, true);
  view.setUint32(off + 72, bodyLen, true);
  buf.set(tube, off + JOB_FIXED);
  buf.set(bodyLen === body.length ? body : body.subarray(0, bodyLen), off + JOB_FIXED + tube.length);
  view.setUint32(off + 4, crc32(buf.subarray(off + 8, off + len)), true);
  return len;
}

export function encodeDelete(buf: Uint8Array, view: DataView, off: number, key: number, id: number): number {
  view.setUint32(off, DELETE_SIZE, true);
  view.setUint32(off + 8, key, true);
  buf[off + 12] = REC_DELETE;
  buf.fill(0, off + 13, off + 20);
  view.setFloat64(off + 20, id, true);
  view.setUint32(off + 4, crc32(buf.subarray(off + 8, off + DELETE_SIZE)), true);
  return DELETE_SIZE;
}

export type DecodeResult =
  | { kind: "end" }
  | { kind: "bad"; reason: string }
  | { kind: "record"; size: number; record: JobRecord | DeleteRecord };

/**
 * Decodes the record at buf[off], reading no further than buf.length.
 * "end" is a zero length field; whether zeros really follow is the caller's question.
 */
export function decodeRecord(buf: Uint8Array, off: number, layout: Layout): DecodeResult {
  const left = buf.length - off;
  if (left < 8) {
    return isZero(buf, off, buf.length) ? { kind: "end" } : { kind: "bad", reason: "partial record header" };
  }
  const v = new DataView(buf.buffer, buf.byteOffset + off, left);
  const len = v.getUint32(0, true);
  if (len === 0) return { kind: "end" };
  const s = layout.version >= 2 ? 4 : 0; // fields after the CRC move by the key's 4 bytes
  if (len < MIN_RECORD + s) return { kind: "bad", reason: `record length ${len} is too small` };
  if (len > left) return { kind: "bad", reason: `record of ${len} bytes runs past the end of the file` };
  if (s && v.getUint32(8, true) !== layout.key) return { kind: "bad", reason: "record key mismatch" };
  const crc = v.getUint32(4, true);
  if (crc32(buf.subarray(off + 8, off + len)) !== crc) return { kind: "bad", reason: "checksum mismatch" };
  const type = buf[off + 8 + s];
  if (type === REC_DELETE) {
    if (len !== MIN_RECORD + s) return { kind: "bad", reason: "delete record of the wrong size" };
    return { kind: "record", size: len, record: { type: REC_DELETE, id: v.getFloat64(16 + s, true) } };
  }
  if (type !== REC_JOB) return { kind: "bad", reason: `unknown record type ${type}` };
  const fixed = JOB_FIXED - 4 + s;
  if (len < fixed) return { kind: "bad", reason: "job record too small" };
  const tubeLen = v.getUint16(10 + s, true);
  const bodyLen = v.getUint32(68 + s, true);
  if (fixed + tubeLen + bodyLen !== len) return { kind: "bad", reason: "job record sizes disagree" };
  const state = buf[off + 9 + s]!;
  if (state !== ST_READY && state !== ST_BURIED && state !== ST_DELAYED) {
    return { kind: "bad", reason: `job record with unknown state ${state}` };
  }
  const t0 = off + fixed;
  return {
    kind: "record",
    size: len,
    record: {
      type: REC_JOB,
      state,
      pri: v.getUint32(12 + s, true),
      delay: v.getUint32(16 + s, true),
      ttr: v.getUint32(20 + s, true),
      id: v.getFloat64(24 + s, true),
      created: v.getFloat64(32 + s, true),
      deadline: v.getFloat64(40 + s, true),
      reserves: v.getUint32(48 + s, true),
      timeouts: v.getUint32(52 + s, true),
      releases: v.getUint32(56 + s, true),
      buries: v.getUint32(60 + s, true),
      kicks: v.getUint32(64 + s, true),
      tube: utf8d.decode(buf.subarray(t0, t0 + tubeLen)),
      body: buf.slice(t0 + tubeLen, t0 + tubeLen + bodyLen),
    },
  };
}

/**
 * What a damaged record at buf[off] seems to be, read without any check:
 * its type and job id when they look plausible (for the report), else null.
 */
export function peekRecord(buf: Uint8Array, off: number, layout: Layout): { type: "job" | "delete"; id: number } | null {
  const s = layout.version >= 2 ? 4 : 0;
  const type = buf[off + 8 + s];
  const at = off + (type === REC_DELETE ? 16 : 24) + s;
  if ((type !== REC_JOB && type !== REC_DELETE) || at + 8 > buf.length) return null;
  const id = new DataView(buf.buffer, buf.byteOffset + at, 8).getFloat64(0, true);
  if (!Number.isSafeInteger(id) || id < 1) return null;
  return { type: type === REC_JOB ? "job" : "delete", id };
}
