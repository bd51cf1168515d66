/** A job as returned by reserve and peek: its id and its body bytes (a copy the caller owns). */

const utf8 = new TextDecoder();

export class Job {
  constructor(
    readonly id: number,
    readonly body: Uint8Array,
  ) {}

  /** The body decoded as UTF-8. */
  text(): string {
    return utf8.decode(this.body);
  }

  /** The body parsed as JSON (throws SyntaxError if it is not JSON). */
  json<T = unknown>(): T {
    return JSON.parse(utf8.decode(this.body)) as T;
  }
}

/** Decodes a job body as UTF-8 text. */
export function text(job: { body: Uint8Array }): string {
  return utf8.decode(job.body);
}

/** Decodes a job body as JSON. */
export function json<T = unknown>(job: { body: Uint8Array }): T {
  return JSON.parse(utf8.decode(job.body)) as T;
}
