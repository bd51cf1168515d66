// Minimal types for the parts of fivebeans (plain JavaScript, no typings) the tests use.
declare module "fivebeans" {
  import type { EventEmitter } from "node:events";

  type Cb<T extends unknown[] = []> = (err: string | Error | null, ...res: T) => void;
  class FiveBeansClient extends EventEmitter {
    constructor(host?: string, port?: number);
    connect(): void;
    end(): void;
    use(tube: string, cb: Cb<[string]>): void;
    list_tube_used(cb: Cb<[string]>): void;
    put(priority: number, delay: number, ttr: number, payload: string | Buffer, cb: Cb<[string]>): void;
    peek(id: string | number, cb: Cb<[string, Buffer]>): void;
    peek_ready(cb: Cb<[string, Buffer]>): void;
    peek_delayed(cb: Cb<[string, Buffer]>): void;
    peek_buried(cb: Cb<[string, Buffer]>): void;
    watch(tube: string, cb: Cb<[string]>): void;
    ignore(tube: string, cb: Cb<[string]>): void;
    list_tubes_watched(cb: Cb<[string[]]>): void;
    list_tubes(cb: Cb<[string[]]>): void;
    reserve(cb: Cb<[string, Buffer]>): void;
    reserve_with_timeout(seconds: number, cb: Cb<[string, Buffer]>): void;
    touch(id: string | number, cb: Cb): void;
    destroy(id: string | number, cb: Cb): void;
    release(id: string | number, priority: number, delay: number, cb: Cb): void;
    bury(id: string | number, priority: number, cb: Cb): void;
    kick(max: number, cb: Cb<[string]>): void;
    kick_job(id: string | number, cb: Cb): void;
    pause_tube(tube: string, delay: number, cb: Cb): void;
    stats_job(id: string | number, cb: Cb<[Record<string, unknown>]>): void;
    stats_tube(tube: string, cb: Cb<[Record<string, unknown>]>): void;
    stats(cb: Cb<[Record<string, unknown>]>): void;
    quit(cb: Cb): void;
  }
  const fivebeans: { client: typeof FiveBeansClient };
  export default fivebeans;
}
