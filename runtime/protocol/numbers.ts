/**
 * The C library's number parsing as beanstalkd relies on it where its rules
 * are not read_u32/read_u64's (those are in args.ts): strtoul for kick's
 * count and strtol for 1.12's reserve-with-timeout, both as glibc implements
 * them. Pure functions of bytes in [pos, end) of a command line.
 */
const SPACE = 0x20;
/** 2^64 - 1 in decimal, for range checks of 20-digit numbers. */
export const U64_MAX = "18446744073709551615";

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
