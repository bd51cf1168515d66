/**
 * The job module contract. A file `jobs/<tube>.ts` default-exports
 * `defineJob({...})`; the file name is the tube.
 *
 *   export default defineJob({
 *     schema: v.object({ to: v.string() }),
 *     ttr: 30,
 *     async handler(payload, ctx) { ... },   // payload is typed by the schema
 *   });
 *
 * defineJob only brands the object: the runner checks every field when it
 * loads the module (see validate.ts), so a plain object of the right shape
 * behaves the same, and nothing depends on object identity (a compiled binary
 * bundles a copy of this file into each job).
 */
import { callerFile, DEFINED_IN } from "./defined-in.ts";
import type { InferInput, InferOutput, StandardSchemaV1 } from "./standard-schema.ts";

export const JOB_BRAND = "beanrun.job/1";

export interface JobLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface JobContext {
  /** The beanstalkd job id. */
  readonly id: number;
  readonly tube: string;
  /** 1 for the first run; counts every reservation, timeouts and crashes included. */
  readonly attempt: number;
  /** Gives the handler another full TTR (beanstalkd `touch`). */
  touch(): Promise<void>;
  /** A logger that tags every line with the job id, tube and attempt. */
  readonly log: JobLogger;
  /** Fires when the worker is asked to stop (SIGTERM/SIGINT, --watch restart). */
  readonly signal: AbortSignal;
}

export interface Backoff {
  /** Seconds before the second attempt (default 1). */
  base?: number;
  /** Multiplier per attempt (default 2). */
  factor?: number;
  /** Cap in seconds (default 3600). */
  max?: number;
}

export interface RetryPolicy {
  /** Total attempts, the first one included (default 3); then the job is buried. */
  attempts?: number;
  /** Delay before each retry: base * factor^(attempt-1), capped; a number is the base. */
  backoff?: Backoff | number;
}

export interface ScheduleEntry<In> {
  /** A croner pattern; six fields for seconds ("*\/15 * * * * *"). */
  cron: string;
  /** Payload to enqueue at each tick (default {}). */
  payload?: In;
  /** IANA time zone, e.g. "Europe/Paris" (default: the machine's). */
  timezone?: string;
}

/**
 * How many worker processes the tube may have. The runner starts the first
 * when work arrives (none while the tube has nothing ready, unless `min`),
 * adds more up to `max` while its backlog outgrows the busy ones, within the
 * machine-wide cap (`run --max-processes`), and each exits after `idle`
 * seconds without a job. `concurrency` applies inside each process.
 */
export interface Processes {
  /** Processes kept even with no work (default 0: scale to zero). */
  min?: number;
  /** Most processes at once (default 1). */
  max?: number;
  /** Seconds without a job before a process exits (default: `run --idle`, 60). */
  idle?: number;
}

export type Schedule<In> = string | ScheduleEntry<In> | ReadonlyArray<string | ScheduleEntry<In>>;

interface CommonOptions<In, Out> {
  handler(payload: Out, ctx: JobContext): unknown;
  /** beanstalkd priority of enqueued jobs, 0 most urgent (default 1024). */
  priority?: number;
  /** Seconds a run may take before the worker is killed and the job retried (default 60). */
  ttr?: number;
  /** Jobs of this tube run at once inside its worker (default 1). */
  concurrency?: number;
  retries?: RetryPolicy;
  schedule?: Schedule<In>;
  processes?: Processes;
  /**
   * The tube, when code outside the runner enqueues this job: it must equal
   * the file name. The runner derives it from the file name otherwise.
   */
  tube?: string;
}

export interface JobOptionsWithSchema<S extends StandardSchemaV1> extends CommonOptions<InferInput<S>, InferOutput<S>> {
  /** Payloads the schema rejects (and non-JSON bodies) are buried at once. */
  schema: S;
}

export interface JobOptionsWithoutSchema<P> extends CommonOptions<P, P> {
  schema?: undefined;
}

/** A job module's default export. `In` is what producers send, `Out` what the handler gets. */
export type JobDefinition<In = unknown, Out = In> = CommonOptions<In, Out> & {
  readonly brand: typeof JOB_BRAND;
  readonly schema?: StandardSchemaV1<In, Out>;
};

export function defineJob<S extends StandardSchemaV1>(def: JobOptionsWithSchema<S>): JobDefinition<InferInput<S>, InferOutput<S>>;
export function defineJob<P = unknown>(def: JobOptionsWithoutSchema<P>): JobDefinition<P, P>;
export function defineJob(def: CommonOptions<unknown, unknown> & { schema?: StandardSchemaV1 }): JobDefinition {
  // Must stay the direct caller of callerFile(): it reads this call's caller from the stack.
  return { ...def, brand: JOB_BRAND, [DEFINED_IN]: callerFile() } as JobDefinition;
}

/** What the runner uses after validation: every default filled in. */
export interface ResolvedJob {
  readonly tube: string;
  /** Where the module was loaded from. */
  readonly file: string;
  readonly handler: (payload: unknown, ctx: JobContext) => unknown;
  readonly schema?: StandardSchemaV1;
  readonly priority: number;
  readonly ttr: number;
  readonly concurrency: number;
  readonly attempts: number;
  readonly backoff: Required<Backoff>;
  readonly schedules: ReadonlyArray<{ cron: string; payload: unknown; timezone?: string }>;
  /** idle undefined: the runner's default. */
  readonly processes: { readonly min: number; readonly max: number; readonly idle?: number };
}

/** Seconds to wait before attempt `attempt + 1`, given that `attempt` failed. */
export function retryDelay(b: Required<Backoff>, attempt: number): number {
  const d = b.base * b.factor ** Math.max(0, attempt - 1);
  return Math.max(0, Math.min(b.max, Math.round(d)));
}
