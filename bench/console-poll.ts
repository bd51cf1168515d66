/**
 * The server's cost of one console poll (GET /api/overview), measured in
 * process so the noise of a browser and a load generator stays out:
 *
 *   bun bench/console-poll.ts
 *
 * 21 tubes, 1,000 jobs; 5,000 polls through the console's fetch handler;
 * prints wall and CPU microseconds per poll and the poll's size. The page
 * polls every 2 s, so its share of a core is (CPU per poll) / 2 s.
 */

import * as net from "node:net";
import { bun } from "../runtime/adapters/bun.ts";
import { usePlatform } from "../runtime/adapters/platform.ts";
import { startServer } from "../runtime/server/index.ts";

usePlatform(bun);
const s = await startServer({ port: 0, httpPort: 0 });
let cmds = "";
for (let i = 0; i < 20; i++) cmds += `use tube${i}\r\n` + `put 0 0 10 2\r\nhi\r\n`.repeat(50);
await new Promise<void>((r) => {
  const c = net.connect(s.port, "127.0.0.1", () => c.end(cmds));
  c.on("data", () => {});
  c.on("close", () => r());
});
const url = `http://127.0.0.1:${s.httpPort}/api/overview`;
for (let i = 0; i < 200; i++) await (await fetch(url)).arrayBuffer();
// the handler alone, in process: the server's share of a poll
const handler = s.console!.fetch;
const req = () => new Request(url, { headers: { host: "127.0.0.1" } });
const t0 = performance.now();
const c0 = process.cpuUsage();
const N = 5000;
for (let i = 0; i < N; i++) {
  const r = await handler(req());
  await r.arrayBuffer();
}
const c1 = process.cpuUsage(c0);
const t1 = performance.now();
const cpu = (c1.user + c1.system) / N;
console.log(
  JSON.stringify({
    tubes: 21,
    jobs: 1000,
    shareOfACoreAtOnePollPer2s: +(cpu / 2e6).toExponential(2),
    usPerPollWall: +(((t1 - t0) * 1000) / N).toFixed(1),
    usPerPollCpu: +((c1.user + c1.system) / N).toFixed(1),
    pollBytes: (await (await handler(req())).arrayBuffer()).byteLength,
  }),
);
await s.close();
