// -V: each accepted and closed connection is logged, as beanstalkd does.
import { expect, test } from "bun:test";
import { startServer } from "../runtime/server/index.ts";
import { startOurs } from "./support/servers.ts";
import { Wire } from "./support/wire.ts";

async function openAndClose(port: number): Promise<void> {
  await Wire.exchange(port, "list-tube-used\r\n");
}

async function until(pred: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await Bun.sleep(10);
}

test("startServer({ verbose }) logs accept and close with a connection number", async () => {
  const lines: string[] = [];
  const server = await startServer({ port: 0, verbose: 1, log: (l) => lines.push(l) });
  try {
    await openAndClose(server.port);
    await openAndClose(server.port);
    await until(() => lines.length >= 4);
    expect(lines).toEqual(["beanrun: accept 1", "beanrun: close 1", "beanrun: accept 2", "beanrun: close 2"]);
  } finally {
    await server.close();
  }
});

test("serve -V prints its pid and the connections on stderr; without -V it prints neither", async () => {
  const verbose = await startOurs(["-V"]);
  const quiet = await startOurs([]);
  try {
    await openAndClose(verbose.port);
    await openAndClose(quiet.port);
    await until(() => verbose.stderr().includes("close 2"));
    expect(verbose.stderr()).toMatch(/beanrun: pid \d+\n/);
    // Connection 1 is the readiness probe of the test harness.
    expect(verbose.stderr()).toContain("beanrun: accept 2\nbeanrun: close 2\n");
    expect(quiet.stderr()).not.toContain("accept");
    expect(quiet.stderr()).not.toContain("pid");
  } finally {
    await verbose.stop();
    await quiet.stop();
  }
});
