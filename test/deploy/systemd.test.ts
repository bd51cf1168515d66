/**
 * deploy/systemd/beanrun.service as systemd itself judges it, offline:
 * `systemd-analyze verify` must pass with no complaint at all, and
 * `systemd-analyze security --offline=true` must rate it below 4.0.
 *
 * verify also checks that ExecStart's binary exists, so it runs against a
 * scratch root: the machine's own unit files (for the targets the unit names),
 * the unit in etc/systemd/system, and an executable at /usr/local/bin/beanrun.
 * A negative control (the same root without that executable) must fail, so
 * the check is known to bite.
 *
 * Without systemd-analyze (`apt-get install systemd`; .ci/run installs it)
 * those tests are skipped with a message. No systemd is started; the last
 * test runs ExecStart's command line as written (from the source tree, %S
 * and the ports mapped to a temp directory and free ports), without the
 * sandbox.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, ROOT } from "../support/servers.ts";
import { launch, ORDER, putJob, waitForFile } from "./launch.ts";

const ANALYZE = Bun.which("systemd-analyze");
const UNIT = join(ROOT, "deploy/systemd/beanrun.service");
const SYSTEM_UNITS = ["/usr/lib/systemd/system", "/lib/systemd/system"].find((d) => existsSync(join(d, "sysinit.target")));
const usable = ANALYZE !== null && SYSTEM_UNITS !== undefined;
if (!usable)
  console.warn("test/deploy/systemd.test.ts: systemd-analyze or the system's unit files not found (apt-get install systemd): skipped");

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function analyze(args: string[]): { code: number; out: string } {
  const r = Bun.spawnSync([ANALYZE!, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, SYSTEMD_COLORS: "0", SYSTEMD_PAGER: "" },
  });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

/** A scratch root holding the system's units, ours, and (unless told not to) an executable at ExecStart's path. */
function scratchRoot(withBinary: boolean): string {
  const root = mkdtempSync(join(tmpdir(), "beanrun-systemd-"));
  dirs.push(root);
  cpSync(SYSTEM_UNITS!, join(root, "usr/lib/systemd/system"), { recursive: true });
  mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
  cpSync(UNIT, join(root, "etc/systemd/system/beanrun.service"));
  if (withBinary) {
    mkdirSync(join(root, "usr/local/bin"), { recursive: true });
    writeFileSync(join(root, "usr/local/bin/beanrun"), "#!/bin/sh\nexit 0\n");
    chmodSync(join(root, "usr/local/bin/beanrun"), 0o755);
  }
  return root;
}

test.skipIf(!usable)("systemd-analyze verify passes with no warning", () => {
  const r = analyze(["verify", `--root=${scratchRoot(true)}`, "beanrun.service"]);
  expect(r).toEqual({ code: 0, out: "" });
});

test.skipIf(!usable)("negative control: verify fails when ExecStart's binary is missing", () => {
  const r = analyze(["verify", `--root=${scratchRoot(false)}`, "beanrun.service"]);
  expect(r.code).not.toBe(0);
  expect(r.out).toContain("/usr/local/bin/beanrun");
});

test.skipIf(!usable)("systemd-analyze security --offline rates the unit below 4.0", () => {
  const r = analyze(["security", "--offline=true", UNIT]);
  const m = /Overall exposure level for beanrun\.service: (\d+\.\d+)/.exec(r.out);
  expect(m, r.out).not.toBeNull();
  const exposure = Number(m![1]);
  console.log(`systemd-analyze security --offline=true deploy/systemd/beanrun.service: ${exposure}`);
  expect(exposure).toBeLessThan(4.0);
  // The same bound through systemd-analyze's own threshold (tenths: 40 = 4.0).
  expect(analyze(["security", "--offline=true", "--threshold=39", UNIT]).code).toBe(0);
});

test("ExecStart as written serves: the log in the state directory, the example mail in the working directory, /healthz", async () => {
  const state = mkdtempSync(join(tmpdir(), "beanrun-systemd-state-"));
  dirs.push(state);
  const unit = readFileSync(UNIT, "utf8");
  const exec = /^ExecStart=(.*)$/m.exec(unit)![1]!.split(/\s+/);
  const workdir = /^WorkingDirectory=(.*)$/m.exec(unit)![1]!.replace("%S", state);
  mkdirSync(workdir, { recursive: true }); // StateDirectory= does this under systemd
  const [beanPort, httpPort] = [String(await freePort()), String(await freePort())];
  const args = exec.slice(1).map((a) =>
    a
      .replace("%S", state)
      .replace(/^11300$/, beanPort)
      .replace(/:8080$/, `:${httpPort}`),
  );
  expect(exec[0]).toBe("/usr/local/bin/beanrun");
  // From the source tree the jobs are not compiled in: point at them.
  const run = await launch([process.execPath, join(ROOT, "runtime/cli.ts"), ...args, "--jobs", join(ROOT, "jobs")], {
    cwd: workdir,
    env: { ...process.env, BEANRUN_OUTBOX: undefined, SMTP_URL: undefined },
  });
  try {
    expect(run.port).toBe(Number(beanPort));
    await putJob(run.port, "order-confirmation", JSON.stringify(ORDER));
    await waitForFile(join(workdir, "tmp/outbox/order-A-1001.eml"));
    expect(existsSync(join(state, "beanrun/wal"))).toBe(true);
    expect((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status).toBe(200);
  } finally {
    expect(await run.stop()).toBe(0);
  }
}, 60_000);
