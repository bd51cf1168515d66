/**
 * What the admin commands act on: job ids and tube names from the command
 * line, checked before anything is sent, and NOT_FOUND turned into a
 * sentence about that job or tube.
 */
import { BeanstalkError, type Client } from "../../client/index.ts";
import { parseCount, UsageError } from "./args.ts";
import { CliError } from "./command.ts";

// beanstalkd's rules: up to 200 bytes of these characters, not starting with "-".
const TUBE_NAME = /^[A-Za-z0-9+/;.$_()][A-Za-z0-9+/;.$_()-]*$/;
const MAX_TUBE_NAME = 200;
const MAX_ID = 2 ** 64 - 1;

export function jobId(text: string): number {
  const id = parseCount("job id", text, MAX_ID);
  if (!Number.isSafeInteger(id)) throw new UsageError(`job id ${text} is too large`);
  return id;
}

export function tubeName(text: string): string {
  if (!TUBE_NAME.test(text) || text.length > MAX_TUBE_NAME) throw new UsageError(`invalid tube name "${text}"`);
  return text;
}

export function isNotFound(e: unknown): boolean {
  return e instanceof BeanstalkError && e.code === "NOT_FOUND";
}

/** Runs `op`; NOT_FOUND becomes CliError("job N not found"). */
export async function onJob<T>(id: number, op: Promise<T>): Promise<T> {
  try {
    return await op;
  } catch (e) {
    throw isNotFound(e) ? new CliError(`job ${id} not found`) : e;
  }
}

/** Runs `op`; NOT_FOUND becomes CliError("tube NAME not found"). */
export async function onTube<T>(tube: string, op: Promise<T>): Promise<T> {
  try {
    return await op;
  } catch (e) {
    throw isNotFound(e) ? new CliError(`tube ${tube} not found`) : e;
  }
}

/**
 * Why a command that needs a job in some state got NOT_FOUND: the job is
 * gone, or it exists in a state the command cannot act on (e.g. reserved by
 * another connection for delete, ready for kick-job).
 */
export async function whyNotFound(client: Client, id: number, wanted: string): Promise<string> {
  try {
    const st = await client.statsJob(id);
    return `job ${id} is ${st.state} in tube ${st.tube}; ${wanted}`;
  } catch (e) {
    if (isNotFound(e)) return `job ${id} not found`;
    throw e;
  }
}

/** Selects `tube` for the peek and kick commands, after checking it exists (`use` would create it, and kick would then report 0). */
export async function useExisting(client: Client, tube: string): Promise<void> {
  await Promise.all([onTube(tube, client.statsTube(tube)), client.use(tube)]);
}
