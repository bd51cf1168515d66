/**
 * The console's actions (kick, delete, pause, put), carried out over the
 * beanstalkd protocol on one connection to this same server: the same path
 * as any client's commands, so the log, the counters and waiting workers see
 * them exactly as they would a client's. Actions run one at a time (`use`
 * is per connection). A refusal becomes a sentence for the operator, with
 * the job's current state when it raced with a worker.
 */
import { BeanstalkError, Client } from "../client/index.ts";
import type { ConsoleSource } from "./source.ts";

export type Action =
  | { action: "kick-job"; id: number }
  | { action: "kick-all"; tube: string }
  | { action: "delete"; id: number }
  | { action: "delete-buried"; tube: string; confirm: string }
  | { action: "pause"; tube: string; seconds: number }
  | { action: "put"; tube: string; body: string; priority?: number; delay?: number; ttr?: number };

export interface ActionResult {
  ok: boolean;
  message: string;
  id?: number;
  count?: number;
}

/** Raised for input the operator must fix; the message is shown as is. */
export class ActionError extends Error {}

const TUBE_NAME = /^[A-Za-z0-9+/;.$_()][A-Za-z0-9\-+/;.$_()]{0,199}$/;

function tubeOf(v: unknown): string {
  if (typeof v !== "string" || !TUBE_NAME.test(v)) throw new ActionError(`not a valid tube name: ${JSON.stringify(v)}`);
  return v;
}

function intOf(v: unknown, what: string, max = 2 ** 32 - 1): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max)
    throw new ActionError(`${what} must be a whole number from 0 to ${max}`);
  return v;
}

/** Checks an untrusted JSON request body and returns the action it names. */
export function parseAction(x: unknown): Action {
  if (typeof x !== "object" || x === null) throw new ActionError("expected a JSON object");
  const o = x as Record<string, unknown>;
  switch (o.action) {
    case "kick-job":
    case "delete":
      return { action: o.action, id: intOf(o.id, "id", Number.MAX_SAFE_INTEGER) };
    case "kick-all":
      return { action: "kick-all", tube: tubeOf(o.tube) };
    case "delete-buried":
      return { action: "delete-buried", tube: tubeOf(o.tube), confirm: String(o.confirm ?? "") };
    case "pause":
      return { action: "pause", tube: tubeOf(o.tube), seconds: intOf(o.seconds, "seconds") };
    case "put": {
      if (typeof o.body !== "string") throw new ActionError("body must be a string");
      const opt = (k: "priority" | "delay" | "ttr") => (o[k] === undefined || o[k] === null ? undefined : intOf(o[k], k));
      return { action: "put", tube: tubeOf(o.tube), body: o.body, priority: opt("priority"), delay: opt("delay"), ttr: opt("ttr") };
    }
    default:
      throw new ActionError(`unknown action ${JSON.stringify(o.action)}`);
  }
}

export interface Actions {
  run(a: Action): Promise<ActionResult>;
  close(): void;
}

/** Why a job-level command was refused, from the job's state now. */
async function refusal(source: ConsoleSource, verb: string, id: number): Promise<ActionResult> {
  const j = await source.jobById(id, false);
  if (!j) return { ok: false, message: `job ${id} no longer exists (a worker may have finished it); nothing to ${verb}` };
  if (j.state === "reserved")
    return { ok: false, message: `job ${id} is reserved by a worker right now; try again when it is released or buried` };
  return { ok: false, message: `job ${id} is ${j.state}; it cannot be ${verb === "kick" ? "kicked" : `${verb}d`} in that state` };
}

/** Deletes the tube's buried jobs one by one, once the operator typed the tube's name to confirm. */
async function deleteBuried(c: Client, a: Extract<Action, { action: "delete-buried" }>): Promise<ActionResult> {
  if (a.confirm !== a.tube) return { ok: false, message: "not confirmed: type the tube's name to delete its buried jobs" };
  await c.use(a.tube);
  let n = 0;
  for (let job = await c.peekBuried(); job; job = await c.peekBuried()) {
    try {
      await c.delete(job.id);
      n++;
    } catch (e) {
      if (!(e instanceof BeanstalkError && e.code === "NOT_FOUND")) throw e;
      // Kicked and reserved by a worker meanwhile: no longer buried, leave it.
    }
  }
  return { ok: true, message: `${n} buried job${n === 1 ? "" : "s"} deleted from ${a.tube}`, count: n };
}

/** Puts a job from the editor; a body over -z or a draining server is a refusal, not an error. */
async function putJob(c: Client, source: ConsoleSource, a: Extract<Action, { action: "put" }>): Promise<ActionResult> {
  await c.use(a.tube);
  try {
    const id = await c.put(a.body, { priority: a.priority, delay: a.delay, ttr: a.ttr });
    return { ok: true, message: `job ${id} put into ${a.tube}`, id };
  } catch (e) {
    if (e instanceof BeanstalkError && e.code === "JOB_TOO_BIG")
      return { ok: false, message: `the body is larger than the server's -z (${source.maxJobSize} bytes)` };
    if (e instanceof BeanstalkError && e.code === "DRAINING")
      return { ok: false, message: "the server is draining: it accepts no new jobs" };
    throw e;
  }
}

/** One action over the connection `c`. */
async function perform(c: Client, source: ConsoleSource, a: Action): Promise<ActionResult> {
  switch (a.action) {
    case "kick-job":
      try {
        await c.kickJob(a.id);
        return { ok: true, message: `job ${a.id} kicked` };
      } catch (e) {
        if (e instanceof BeanstalkError && e.code === "NOT_FOUND") return refusal(source, "kick", a.id);
        throw e;
      }
    case "delete":
      try {
        await c.delete(a.id);
        return { ok: true, message: `job ${a.id} deleted` };
      } catch (e) {
        if (e instanceof BeanstalkError && e.code === "NOT_FOUND") return refusal(source, "delete", a.id);
        throw e;
      }
    case "kick-all": {
      await c.use(a.tube);
      const n = await c.kick(2 ** 31 - 1);
      return { ok: true, message: `${n} job${n === 1 ? "" : "s"} kicked in ${a.tube}`, count: n };
    }
    case "delete-buried":
      return deleteBuried(c, a);
    case "pause":
      if (!(await source.hasTube(a.tube))) return { ok: false, message: `tube ${a.tube} does not exist (it has no jobs and no clients)` };
      await c.pauseTube(a.tube, a.seconds);
      return { ok: true, message: a.seconds ? `${a.tube} paused for ${a.seconds} s` : `${a.tube} resumed` };
    case "put":
      return putJob(c, source, a);
  }
}

export function createActions(source: ConsoleSource, server: { host: string; port: number }): Actions {
  let client: Client | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  const host = server.host === "0.0.0.0" ? "127.0.0.1" : server.host === "::" ? "::1" : server.host;

  const conn = async (): Promise<Client> => {
    if (client && !client.closed) return client;
    client = await Client.connect({ host, port: server.port, connectTimeout: 5000 });
    client.unref();
    return client;
  };

  return {
    run(a) {
      const p = chain.then(async () => perform(await conn(), source, a));
      chain = p.catch(() => {});
      return p;
    },
    close() {
      client?.close();
      client = null;
    },
  };
}
