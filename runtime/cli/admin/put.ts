/** `beanrun put TUBE [BODY]`: puts one job and prints its id. */
import process from "node:process";
import { BeanstalkError, DEFAULT_PRIORITY, DEFAULT_TTR } from "../../client/index.ts";
import { parseCount } from "./args.ts";
import { adminMain, CliError, out } from "./command.ts";
import { tubeName } from "./targets.ts";

const USAGE = `Use: beanrun put TUBE [BODY | -] [--pri N] [--delay S] [--ttr S] [-s HOST:PORT]

Puts a job into TUBE and prints its id. The body is BODY, or stdin (read to
the end, bytes unchanged) when BODY is "-" or absent.

  --pri N                  priority, 0 most urgent (default ${DEFAULT_PRIORITY})
  --delay S                seconds before the job becomes ready (default 0)
  --ttr S                  seconds a worker may hold it (default ${DEFAULT_TTR})
  -s, --server HOST:PORT   the server (default $BEANRUN_SERVER, else 127.0.0.1:11300)`;

const U32 = 2 ** 32 - 1;

export const main = adminMain({
  name: "put",
  usage: USAGE,
  flags: [
    { name: "pri", value: true },
    { name: "delay", value: true },
    { name: "ttr", value: true },
  ],
  positionals: { min: 1, max: 2 },
  async run({ client, args }) {
    const [tubeArg, bodyArg] = args.positionals;
    const tube = tubeName(tubeArg!);
    const opt = (name: string, fallback: number): number => {
      const v = args.values.get(name);
      return v === undefined ? fallback : parseCount(`--${name}`, v, U32);
    };
    const options = { priority: opt("pri", DEFAULT_PRIORITY), delay: opt("delay", 0), ttr: opt("ttr", DEFAULT_TTR) };
    const body = bodyArg === undefined || bodyArg === "-" ? await readStdin() : new TextEncoder().encode(bodyArg);
    await client.use(tube);
    let id: number;
    try {
      id = await client.put(body, options);
    } catch (e) {
      if (!(e instanceof BeanstalkError)) throw e;
      if (e.code === "BURIED" && e.id !== undefined) {
        await out(`${e.id}\n`);
        throw new CliError(`job ${e.id} was put but buried at once: the server is out of memory`);
      }
      if (e.code === "JOB_TOO_BIG") throw new CliError(`the body (${body.length} bytes) is larger than the server's max-job-size`);
      if (e.code === "DRAINING") throw new CliError("the server is draining and refuses new jobs");
      throw e;
    }
    await out(`${id}\n`);
  },
});

async function readStdin(): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(typeof chunk === "string" ? new TextEncoder().encode(chunk) : (chunk as Uint8Array));
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}
