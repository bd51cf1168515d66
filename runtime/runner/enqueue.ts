/**
 * The typed producer. The payload type comes from the job's schema, and the
 * payload is validated before it is sent:
 *
 *   import email from "../jobs/order-confirmation.ts";
 *   await enqueue(email, { orderId: "A-1", to: "a@b.c", items: [] }, { delay: 60 });
 *   await enqueue(email, payload, { runAt: new Date("2030-01-01T09:00:00Z") });
 *
 * `enqueue` uses a shared connection to BEANRUN_SERVER (set for workers by
 * the runner) or 127.0.0.1:11300; `Producer.connect()` gives one of your own.
 */
import { Client } from "../client/index.ts";
import type { JobDefinition, ResolvedJob } from "./define.ts";
import { validatePayload } from "./standard-schema.ts";

export type EnqueueOptions = {
  /** beanstalkd priority; default the job's `priority`. */
  priority?: number;
  /** Seconds; default the job's `ttr`. */
  ttr?: number;
} & ({ delay?: number; runAt?: undefined } | { runAt: Date | number; delay?: undefined });

export class EnqueueError extends Error {
  override name = "EnqueueError";
}

/**
 * Tubes of job definitions the runner loaded, shared through a global symbol
 * because a compiled binary carries one copy of this module per job bundle.
 */
const registry: WeakMap<object, string> = ((globalThis as Record<symbol, unknown>)[Symbol.for("beanrun.tubes")] ??=
  new WeakMap<object, string>()) as WeakMap<object, string>;

/** Called by the runner for each module it loads. */
export function registerTube(job: ResolvedJob, def: unknown): void {
  if (typeof def === "object" && def !== null) registry.set(def, job.tube);
}

export function tubeOf(job: { readonly tube?: string }): string {
  const t = job.tube ?? registry.get(job);
  if (!t) {
    throw new EnqueueError(
      'enqueue: this job does not say its tube: add `tube: "<file name>"` to its defineJob({...})',
    );
  }
  return t;
}

function delaySeconds(opts: EnqueueOptions): number {
  if (opts.runAt !== undefined) {
    const at = typeof opts.runAt === "number" ? opts.runAt : opts.runAt.getTime();
    if (!Number.isFinite(at)) throw new EnqueueError("enqueue: runAt is not a valid date");
    return Math.max(0, Math.ceil((at - Date.now()) / 1000));
  }
  const d = opts.delay ?? 0;
  if (!Number.isFinite(d) || d < 0) throw new EnqueueError(`enqueue: delay must be >= 0 seconds (got ${d})`);
  return Math.ceil(d);
}

export class Producer {
  private used = "default";

  private constructor(private readonly client: Client) {}

  static async connect(addr: string = process.env.BEANRUN_SERVER ?? "127.0.0.1:11300"): Promise<Producer> {
    const { host, port } = parseAddress(addr);
    return new Producer(await Client.connect({ host, port }));
  }

  /** Validates `payload` with the job's schema, then puts it; resolves with the job id. */
  async enqueue<In>(job: JobDefinition<In, unknown>, payload: In, opts: EnqueueOptions = {}): Promise<number> {
    const tube = tubeOf(job);
    if (job.schema) {
      const r = await validatePayload(job.schema, payload);
      if (!r.ok) throw new EnqueueError(`enqueue ${tube}: payload rejected by the schema: ${r.reason}`);
    }
    const body = JSON.stringify(payload);
    if (body === undefined) throw new EnqueueError(`enqueue ${tube}: payload is not JSON-serialisable`);
    return this.put(tube, body, {
      priority: opts.priority ?? job.priority ?? 1024,
      ttr: opts.ttr ?? job.ttr ?? 60,
      delay: delaySeconds(opts),
    });
  }

  /** Puts a raw body; `use` is sent only when the tube changes (commands are pipelined in call order). */
  put(tube: string, body: string, opts: { priority: number; ttr: number; delay: number }): Promise<number> {
    let use: Promise<unknown> = Promise.resolve();
    if (tube !== this.used) {
      this.used = tube;
      use = this.client.use(tube);
    }
    const put = this.client.put(body, opts);
    return Promise.all([use, put]).then(([, id]) => id);
  }

  close(): void {
    this.client.close();
  }
}

let shared: Promise<Producer> | null = null;

/** Enqueues on a shared connection (see the module comment). */
export async function enqueue<In>(job: JobDefinition<In, unknown>, payload: In, opts: EnqueueOptions = {}): Promise<number> {
  shared ??= Producer.connect();
  let p: Producer;
  try {
    p = await shared;
  } catch (e) {
    shared = null;
    throw e;
  }
  return p.enqueue(job, payload, opts);
}

export function parseAddress(addr: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(addr);
  if (!m) throw new Error(`expected HOST:PORT, got "${addr}"`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`port out of range in "${addr}"`);
  return { host: m[1] || "127.0.0.1", port };
}
