/**
 * The typed producer. The payload type comes from the job's schema, and the
 * payload is validated before it is sent:
 *
 *   import email from "./jobs/order-confirmation.ts";
 *   await enqueue(email, { orderId: "A-1", to: "a@b.c", items: [] }, { delay: 60 });
 *   await enqueue(email, payload, { runAt: new Date("2030-01-01T09:00:00Z") });
 *   await enqueue("order-confirmation", payload);   // by tube name: no import, no validation
 *
 * The tube is the job file's name, known from where defineJob was called
 * (defined-in.ts), from the runner's registry, or from `tube:`.
 *
 * `enqueue` uses a shared connection to BEANRUN_SERVER (set for workers by
 * the runner) or 127.0.0.1:11300, opened on first use. It holds the process
 * only while puts wait for their reply, so a script ends on its own once its
 * jobs are acknowledged; `close()` ends it for good (a later enqueue opens a
 * new one). `Producer.connect()` gives a connection of your own.
 */
import { Client } from "../client/index.ts";
import type { JobDefinition, ResolvedJob } from "./define.ts";
import { DEFINED_IN, jobFileTube } from "./defined-in.ts";
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
const registry: WeakMap<object, string> = ((globalThis as Record<symbol, unknown>)[Symbol.for("beanrun.tubes")] ??= new WeakMap<
  object,
  string
>()) as WeakMap<object, string>;

/** Called by the runner for each module it loads. */
export function registerTube(job: ResolvedJob, def: unknown): void {
  if (typeof def === "object" && def !== null) registry.set(def, job.tube);
}

// beanstalkd's tube names: at most 200 bytes of these characters, not starting with "-".
const TUBE_RE = /^[A-Za-z0-9+/;.$_()][A-Za-z0-9\-+/;.$_()]{0,199}$/;

export function tubeOf(job: { readonly tube?: string }): string {
  const t = job.tube ?? registry.get(job);
  if (t) return t;
  const file = (job as { [DEFINED_IN]?: string })[DEFINED_IN];
  const fromFile = file === undefined ? null : jobFileTube(file);
  if (fromFile !== null && TUBE_RE.test(fromFile)) return fromFile;
  throw new EnqueueError(
    file
      ? `enqueue: this job does not say its tube: it is defined in ${file}, which is not a job file (jobs/<tube>.ts); move it there or add \`tube: "<tube>"\` to its defineJob({...})`
      : 'enqueue: this job does not say its tube and its file cannot be told (bundled code?): add `tube: "<file name>"` to its defineJob({...})',
  );
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
  private inFlight = 0;

  private constructor(private readonly client: Client) {
    // Idle, the connection does not keep the process alive (see put).
    client.unref();
  }

  static async connect(addr: string = process.env.BEANRUN_SERVER ?? "127.0.0.1:11300"): Promise<Producer> {
    const { host, port } = parseAddress(addr);
    return new Producer(await Client.connect({ host, port }));
  }

  /** True once the connection has ended (closed, or lost); puts then reject. */
  get closed(): boolean {
    return this.client.closed;
  }

  /** Validates `payload` with the job's schema, then puts it; resolves with the job id. A tube name puts the JSON payload as it is. */
  async enqueue<In>(job: JobDefinition<In, unknown> | string, payload: In, opts: EnqueueOptions = {}): Promise<number> {
    if (typeof job === "string") {
      if (!TUBE_RE.test(job)) throw new EnqueueError(`enqueue: "${job}" is not a valid tube name`);
      return this.put(job, serialise(job, payload), { priority: opts.priority ?? 1024, ttr: opts.ttr ?? 60, delay: delaySeconds(opts) });
    }
    const tube = tubeOf(job);
    if (job.schema) {
      const r = await validatePayload(job.schema, payload);
      if (!r.ok) throw new EnqueueError(`enqueue ${tube}: payload rejected by the schema: ${r.reason}`);
    }
    return this.put(tube, serialise(tube, payload), {
      priority: opts.priority ?? job.priority ?? 1024,
      ttr: opts.ttr ?? job.ttr ?? 60,
      delay: delaySeconds(opts),
    });
  }

  /**
   * Puts a raw body; `use` is sent only when the tube changes (commands are
   * pipelined in call order). The connection holds the process only while
   * replies are awaited.
   */
  put(tube: string, body: string, opts: { priority: number; ttr: number; delay: number }): Promise<number> {
    let use: Promise<unknown> = Promise.resolve();
    if (tube !== this.used) {
      this.used = tube;
      use = this.client.use(tube);
    }
    const put = this.client.put(body, opts);
    if (this.inFlight++ === 0) this.client.ref();
    const settled = (): void => {
      if (--this.inFlight === 0) this.client.unref();
    };
    return Promise.all([use, put]).then(
      ([, id]) => {
        settled();
        return id;
      },
      (e) => {
        settled();
        throw e;
      },
    );
  }

  /** Waits for the replies to puts already sent, then closes the connection. */
  close(): Promise<void> {
    this.client.ref();
    return this.client.quit();
  }
}

function serialise(tube: string, payload: unknown): string {
  const body = JSON.stringify(payload);
  if (body === undefined) throw new EnqueueError(`enqueue ${tube}: payload is not JSON-serialisable`);
  return body;
}

let shared: Promise<Producer> | null = null;

async function sharedProducer(): Promise<Producer> {
  if (shared) {
    const p = await shared.catch(() => null);
    if (p && !p.closed) return p;
  }
  shared = Producer.connect();
  try {
    return await shared;
  } catch (e) {
    shared = null;
    throw e;
  }
}

/** Enqueues on the shared connection (see the module comment): a job definition, or a tube name. */
export async function enqueue<In>(job: JobDefinition<In, unknown> | string, payload: In, opts: EnqueueOptions = {}): Promise<number> {
  return (await sharedProducer()).enqueue(job, payload, opts);
}

/** Closes the shared connection once its puts are acknowledged. */
export async function close(): Promise<void> {
  const p = shared;
  shared = null;
  if (p) await (await p.catch(() => null))?.close();
}

export function parseAddress(addr: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(addr);
  if (!m) throw new Error(`expected HOST:PORT, got "${addr}"`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`port out of range in "${addr}"`);
  return { host: m[1] || "127.0.0.1", port };
}
