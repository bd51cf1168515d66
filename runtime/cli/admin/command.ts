/**
 * The frame every admin command runs in: flags (with -h and -s/--server),
 * the server address, one client connection, and the translation of every
 * failure into a one-line message on stderr plus an exit code:
 *   0 done, 1 the server said no (or cannot be reached), 2 bad usage.
 */
import process from "node:process";
import { BeanstalkError, Client, ConnectionError } from "../../client/index.ts";
import { parseAddress } from "../../runner/enqueue.ts";
import { type FlagSpec, type ParsedArgs, parseArgs, UsageError } from "./args.ts";

/** A failure the command has already put into words (e.g. "job 5 not found"). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface CommandContext {
  client: Client;
  args: ParsedArgs;
  /** The server as HOST:PORT, for messages. */
  server: string;
  /** True when --json was given (for commands that declare it). */
  json: boolean;
}

export interface AdminCommand {
  name: string;
  /** Full usage text, shown for -h and after a usage error. */
  usage: string;
  /** Flags besides -h, -s/--server (and --json when `json` is set). */
  flags?: readonly FlagSpec[];
  json?: boolean;
  /** How many positional arguments the command accepts. */
  positionals: { min: number; max: number };
  run(ctx: CommandContext): Promise<number | void>;
}

const COMMON: readonly FlagSpec[] = [
  { name: "help", short: "h", value: false },
  { name: "server", short: "s", value: true },
];
const JSON_FLAG: FlagSpec = { name: "json", value: false };

export const DEFAULT_SERVER = "127.0.0.1:11300";
const CONNECT_TIMEOUT_MS = 5000;

/** `-s/--server`, else BEANRUN_SERVER, else 127.0.0.1:11300. */
export function serverAddress(args: ParsedArgs): string {
  return args.values.get("server") ?? (process.env.BEANRUN_SERVER || DEFAULT_SERVER);
}

/** The `main(argv)` the dispatcher calls for this command. */
export function adminMain(cmd: AdminCommand): (argv: string[]) => Promise<number> {
  return async (argv) => {
    const say = (message: string): void => console.error(`beanrun ${cmd.name}: ${message}`);
    let args: ParsedArgs;
    let addr: { host: string; port: number };
    let server: string;
    try {
      args = parseArgs(argv, [...COMMON, ...(cmd.json ? [JSON_FLAG] : []), ...(cmd.flags ?? [])]);
      if (args.switches.has("help")) {
        console.log(cmd.usage);
        return 0;
      }
      const n = args.positionals.length;
      if (n < cmd.positionals.min) throw new UsageError("missing argument");
      if (n > cmd.positionals.max) throw new UsageError(`unexpected argument "${args.positionals[cmd.positionals.max]}"`);
      server = serverAddress(args);
      try {
        addr = parseAddress(server);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      say(`${e.message}\n\n${cmd.usage}`);
      return 2;
    }

    let client: Client;
    try {
      client = await Client.connect({ ...addr, connectTimeout: CONNECT_TIMEOUT_MS });
    } catch (e) {
      say(`cannot connect to ${server}: ${describeSocketError(e)}`);
      return 1;
    }
    try {
      const code = await cmd.run({ client, args, server, json: args.switches.has("json") });
      return typeof code === "number" ? code : 0;
    } catch (e) {
      if (e instanceof UsageError) {
        say(`${e.message}\n\n${cmd.usage}`);
        return 2;
      }
      if (e instanceof CliError) {
        say(e.message);
        return e.exitCode;
      }
      if (e instanceof ConnectionError) {
        say(`lost the connection to ${server}: ${e.message}`);
        return 1;
      }
      if (e instanceof BeanstalkError) {
        say(`the server answered ${e.code === "UNEXPECTED" ? e.message : `${e.code} to ${e.command}`}`);
        return 1;
      }
      throw e;
    } finally {
      client.close();
    }
  };
}

function describeSocketError(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  if (code === "ECONNREFUSED") return "connection refused";
  if (typeof code === "string") return code;
  return e instanceof Error ? e.message : String(e);
}

/** Writes to stdout and resolves once the bytes are handed off (so exit codes never cut output short). */
export function out(data: string | Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    process.stdout.write(data, () => resolve());
  });
}
