/**
 * Cross-protocol attacks: a web page can make a browser send an HTTP request
 * to the queue port (a `text/plain` POST needs no CORS preflight), and every
 * line of its body would run as a command (`use x`, `put ...`). beanstalkd
 * answers the request and header lines UNKNOWN_COMMAND and goes on; beanrun
 * closes the connection instead, as Redis does, and logs a warning. This is
 * a deliberate difference from beanstalkd (README, "The server").
 *
 * Only lines that are not beanstalkd commands are looked at (the
 * UNKNOWN_COMMAND path), so commands pay nothing. Such a line is taken for
 * HTTP when it is a request line (an upper-case method, a space, and
 * " HTTP/" further on) or a `Host:` header, which a browser sends before any
 * body line, so the connection is closed before the body is read even when
 * an over-long request line was answered BAD_FORMAT. The warning is logged
 * at most once a minute per server.
 */
import type { ProtocolContext } from "./context.ts";

const SPACE = 0x20;
const HOST = "host:";
const HTTP = " HTTP/";
const WARN_EVERY_MS = 60_000;

/** True when buf[start, end) is an HTTP request line or a Host: header. */
export function looksLikeHttp(buf: Uint8Array, start: number, end: number): boolean {
  if (end - start >= HOST.length) {
    let host = true;
    for (let i = 0; i < HOST.length && host; i++) host = (buf[start + i]! | 0x20) === HOST.charCodeAt(i);
    if (host) return true;
  }
  let i = start;
  while (i < end && buf[i]! >= 0x41 && buf[i]! <= 0x5a) i++;
  if (i === start || i - start > 16 || buf[i] !== SPACE) return false;
  outer: for (let k = i; k + HTTP.length <= end; k++) {
    for (let m = 0; m < HTTP.length; m++) if (buf[k + m] !== HTTP.charCodeAt(m)) continue outer;
    return true;
  }
  return false;
}

const lastWarning = new WeakMap<ProtocolContext, { at: number; suppressed: number }>();

/** Logs the security warning, at most once a minute per server (counting the ones left out). */
export function warnCrossProtocol(ctx: ProtocolContext): void {
  const now = Date.now();
  const w = lastWarning.get(ctx);
  if (w && now - w.at < WARN_EVERY_MS) {
    w.suppressed++;
    return;
  }
  const more = w?.suppressed ? ` (${w.suppressed} more since the last warning)` : "";
  lastWarning.set(ctx, { at: now, suppressed: 0 });
  ctx.log(
    `beanrun: WARNING: possible security attack: a client sent an HTTP request (a request line or a Host: header) to the beanstalkd port, as a web page can make a browser do to inject commands; connection closed${more}`,
  );
}
