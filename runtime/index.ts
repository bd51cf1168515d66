/**
 * beanrun's public API for job modules and producers:
 *
 *   import { defineJob, enqueue, close } from "beanrun";
 *
 * Bun loads this file as it is; Node and Deno get the same API compiled to
 * JavaScript (dist/node, built at npm pack).
 */
export {
  defineJob,
  type Backoff,
  type JobContext,
  type JobDefinition,
  type JobLogger,
  type RetryPolicy,
  type Schedule,
  type ScheduleEntry,
} from "./runner/define.ts";
export { close, enqueue, EnqueueError, Producer, type EnqueueOptions } from "./runner/enqueue.ts";
export type { StandardSchemaV1 } from "./runner/standard-schema.ts";
export { Client, BeanstalkError, type Job, type PutOptions } from "./client/index.ts";
