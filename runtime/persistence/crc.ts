/**
 * CRC-32 (IEEE 802.3, the polynomial of zlib and gzip). node:zlib's crc32 is
 * used when the runtime has it (Bun, Node 22+), a table-driven version
 * otherwise; both give the same values.
 */
import * as zlib from "node:zlib";

const TABLE = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  TABLE[i] = c;
}

function crc32js(b: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < b.length; i++) c = TABLE[(c ^ b[i]!) & 255]! ^ (c >>> 8);
  return ~c >>> 0;
}

const native = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

export const crc32: (b: Uint8Array) => number =
  typeof native === "function" && native(new Uint8Array([0x61])) === 0xe8b7be43 ? (b) => native(b) >>> 0 : crc32js;

export { crc32js };
