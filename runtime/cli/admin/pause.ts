/** `beanrun pause TUBE SECONDS`: holds back reserves from a tube. */
import { parseCount } from "./args.ts";
import { adminMain, out } from "./command.ts";
import { onTube, tubeName } from "./targets.ts";

const USAGE = `Use: beanrun pause TUBE SECONDS [-s HOST:PORT]

Workers get no job from TUBE for SECONDS; puts are still accepted.
"pause TUBE 0" ends a pause.

  -s, --server HOST:PORT   the server (default $BEANRUN_SERVER, else 127.0.0.1:11300)`;

export const main = adminMain({
  name: "pause",
  usage: USAGE,
  positionals: { min: 2, max: 2 },
  async run({ client, args }) {
    const [tubeArg, secondsArg] = args.positionals;
    const tube = tubeName(tubeArg!);
    const seconds = parseCount("SECONDS", secondsArg!, 2 ** 32 - 1);
    await onTube(tube, client.pauseTube(tube, seconds));
    await out(seconds === 0 ? `tube ${tube} unpaused\n` : `tube ${tube} paused for ${seconds}s\n`);
  },
});
