/**
 * Number parsing with the exact acceptance rules of beanstalkd, which differ
 * per command (read_u32/read_u64 for most, strtoul for kick, strtol for
 * 1.12's reserve-with-timeout). All functions read bytes in [pos, end) of a
 * command line and return -1 on failure; on success `parsed.end` is the index
 * just past the number.
 */
export const parsed = { end: 0 };

const SPACE = 0x20;
const U64_MAX = "18446744073709551615";

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

/** Digits at [start, stop) as a decimal string without leading zeros ("0" for zero). */
function digits(buf: Uint8Array, start: number, stop: number): string {
  while (start < stop - 1 && buf[start] === 0x30) start++;
  let s = "";
  for (let i = start; i < stop; i++) s += String.fromCharCode(buf[i]!);
  return s;
}

/**
 * read_u64/read_u32: skip spaces, require a digit, read digits. With
 * `toEnd`, the number must run to the end of the line. Returns the value
 * (ids above 2^53 come back as Infinity: no job can have them) or -1.
 */
function readUnsigned(buf: Uint8Array, pos: number, end: number, toEnd: boolean, max32: boolean): number {
  while (pos < end && buf[pos] === SPACE) pos++;
  if (pos >= end || !isDigit(buf[pos]!)) return -1;
  const start = pos;
  let v = 0;
  while (pos < end && isDigit(buf[pos]!)) {
    v = v * 10 + (buf[pos]! - 0x30);
    pos++;
  }
  if (toEnd && pos !== end) return -1;
  if (v > Number.MAX_SAFE_INTEGER) {
    // Only here can the value exceed uint64 (strtoumax's ERANGE).
    const d = digits(buf, start, pos);
    if (max32 || d.length > 20 || (d.length === 20 && d > U64_MAX)) return -1;
    v = Infinity;
  } else if (max32 && v > 0xffffffff) {
    return -1;
  }
  parsed.end = pos;
  return v;
}

export function readU32(buf: Uint8Array, pos: number, end: number, toEnd = false): number {
  return readUnsigned(buf, pos, end, toEnd, true);
}

export function readU64(buf: Uint8Array, pos: number, end: number, toEnd = false): number {
  return readUnsigned(buf, pos, end, toEnd, false);
}

/** C isspace in the "C" locale. */
function isSpace(b: number): boolean {
  return b === SPACE || (b >= 0x09 && b <= 0x0d);
}

/**
 * strtoul/strtol(…, 10) as glibc does it: leading white space, an optional
 * sign, digits; trailing bytes are ignored. Returns the value as a BigInt
 * (negated in two's complement for strtoul), null when no digits were found
 * ("end == start"), or "range" on overflow (errno ERANGE).
 */
function strto(buf: Uint8Array, pos: number, end: number, signed: boolean): bigint | null | "range" {
  while (pos < end && isSpace(buf[pos]!)) pos++;
  let neg = false;
  if (pos < end && (buf[pos] === 0x2b || buf[pos] === 0x2d)) {
    neg = buf[pos] === 0x2d;
    pos++;
  }
  const start = pos;
  while (pos < end && isDigit(buf[pos]!)) pos++;
  if (pos === start) return null;
  const mag = BigInt(digits(buf, start, pos));
  if (signed) {
    if (!neg && mag > 0x7fffffffffffffffn) return "range";
    if (neg && mag > 0x8000000000000000n) return "range";
    return neg ? -mag : mag;
  }
  if (mag > 0xffffffffffffffffn) return "range";
  return neg ? BigInt.asUintN(64, -mag) : mag;
}

/** kick's count: strtoul truncated to a C unsigned int. -1 means BAD_FORMAT. */
export function readKickCount(buf: Uint8Array, pos: number, end: number): number {
  const v = strto(buf, pos, end, false);
  if (v === null || v === "range") return -1;
  return Number(BigInt.asUintN(32, v));
}

/**
 * 1.12's reserve-with-timeout: strtol truncated to a C int; garbage parses as
 * 0 and a negative timeout waits forever. Returns null for BAD_FORMAT.
 */
export function readTimeout112(buf: Uint8Array, pos: number, end: number): number | null {
  const v = strto(buf, pos, end, true);
  if (v === "range") return null;
  if (v === null) return 0;
  return Number(BigInt.asIntN(32, v));
}
