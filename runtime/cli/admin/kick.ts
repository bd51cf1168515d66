/** `beanrun kick TUBE [N]`: moves up to N buried jobs (or, with none buried, delayed ones) to ready. */
import { parseCount } from "./args.ts";
import { adminMain, out } from "./command.ts";
import { tubeName, useExisting } from "./targets.ts";

const USAGE = `Use: beanrun kick TUBE [N] [-s HOST:PORT]

Kicks up to N (default 1) of TUBE's buried jobs back to ready; when it has
none buried, up to N delayed jobs instead (beanstalkd's rule). Prints how
many were kicked.

  -s, --server HOST:PORT   the server (default $BEANRUN_SERVER, else 127.0.0.1:11300)`;

export const main = adminMain({
  name: "kick",
  usage: USAGE,
  positionals: { min: 1, max: 2 },
  async run({ client, args }) {
    const [tubeArg, nArg] = args.positionals;
    const tube = tubeName(tubeArg!);
    const bound = nArg === undefined ? 1 : parseCount("N", nArg, 2 ** 32 - 1);
    await useExisting(client, tube);
    const kicked = await client.kick(bound);
    await out(`kicked ${kicked} job${kicked === 1 ? "" : "s"} in tube ${tube}\n`);
  },
});
