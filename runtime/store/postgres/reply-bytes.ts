/**
 * The reply bytes the PostgreSQL front end builds from database results:
 * a job (RESERVED/FOUND with its body), a one-line reply, and an OK with a
 * YAML body. Latin-1, byte per character, as every protocol string is; the
 * fixed replies (NOT_FOUND, ...) come from runtime/protocol/replies.ts.
 */

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const CRLF = ascii("\r\n");

/** `<prefix><id> <bytes>\r\n<body>\r\n`. */
export function jobReply(prefix: string, id: number, body: Uint8Array): Uint8Array {
  const head = ascii(`${prefix}${id} ${body.length}\r\n`);
  const out = new Uint8Array(head.length + body.length + 2);
  out.set(head, 0);
  out.set(body, head.length);
  out.set(CRLF, head.length + body.length);
  return out;
}

export function lineReply(s: string): Uint8Array {
  return ascii(`${s}\r\n`);
}

export function yamlReply(yaml: string): Uint8Array {
  return ascii(`OK ${yaml.length}\r\n${yaml}\r\n`);
}
