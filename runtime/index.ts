/**
 * beanrun's public API for job modules and producers:
 *
 *   import { defineJob, enqueue, close } from "beanrun";
 *
 * Bun loads this file as it is; Node and Deno get the same API compiled to
 * JavaScript (dist/node, built at npm pack).
 */

export { BeanstalkError, Client, type Job, type PutOptions } from "./client/index.ts";
export {
  type Backoff,
  defineJob,
  type JobContext,
  type JobDefinition,
  type JobLogger,
  type RetryPolicy,
  type Schedule,
  type ScheduleEntry,
} from "./runner/define.ts";
export { close, EnqueueError, type EnqueueOptions, enqueue, Producer } from "./runner/enqueue.ts";
export type { StandardSchemaV1 } from "./runner/standard-schema.ts";
