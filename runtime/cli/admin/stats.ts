/** `beanrun stats [TUBE]`: the server's stats, or one tube's. */
import { adminMain, out } from "./command.ts";
import { jsonText, keyValues } from "./format.ts";
import { onTube, tubeName } from "./targets.ts";

const USAGE = `Use: beanrun stats [TUBE] [--json] [-s HOST:PORT]

Prints the server's stats (or TUBE's) as aligned "key: value" lines, in the
server's order; --json prints them as one JSON object with numbers typed.

  -s, --server HOST:PORT   the server (default $BEANRUN_SERVER, else 127.0.0.1:11300)
  --json                   JSON instead of text`;

export const main = adminMain({
  name: "stats",
  usage: USAGE,
  json: true,
  positionals: { min: 0, max: 1 },
  async run({ client, args, json }) {
    const tube = args.positionals[0];
    const st = tube === undefined ? await client.stats() : await onTube(tube, client.statsTube(tubeName(tube)));
    await out(json ? jsonText(st) : keyValues(Object.entries(st.raw)));
  },
});
