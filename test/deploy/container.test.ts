/**
 * deploy/container/Containerfile without a container daemon: its build
 * context as .dockerignore leaves it, its shape (multi-stage, numeric
 * non-root user matching the Kubernetes manifests, state volume,
 * HEALTHCHECK; test/deploy/kubernetes.test.ts checks the manifests run the
 * same ids), and its steps replayed in a clean directory
 * (test/deploy/containerfile.ts). The replayed image's ENTRYPOINT + CMD then
 * run as its USER (setpriv, when we are root) with its ENV from an otherwise
 * empty filesystem root: it must answer a put, run the example mail job into
 * its state volume, pass its own HEALTHCHECK and stop cleanly on SIGTERM;
 * started again with SMTP_URL, the same executable sends the mail through
 * STARTTLS and AUTH to a real SMTP server (smtp-server).
 *
 * What this cannot check: the base images themselves (RUN steps use this
 * machine's node and npm) and the container runtime's handling of USER and
 * VOLUME.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { SMTPServer } from "smtp-server";
import { freePort, ROOT } from "../support/servers.ts";
import { contextFiles, parseContainerfile, replay } from "./containerfile.ts";
import { launch, ORDER, putJob, waitForFile } from "./launch.ts";

const CONTAINERFILE = join(ROOT, "deploy/container/Containerfile");
const stages = parseContainerfile(readFileSync(CONTAINERFILE, "utf8"));
const final = stages.at(-1)!;
const step = (op: string) => final.steps.filter((s) => s.op === op);

// The replay leaves a full node_modules behind: it is removed inside the test
// (whose timeout is generous), and here only if the test did not get that far.
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("the build context leaves out node_modules, dist, .git and secrets", () => {
  const files = contextFiles(ROOT);
  const bytes = files.reduce((n, f) => n + statSync(join(ROOT, f)).size, 0);
  console.log(`build context: ${files.length} files, ${(bytes / 1024).toFixed(0)} KiB`);
  expect(files.filter((f) => /(^|\/)(node_modules|\.git)\//.test(f) || f.startsWith("dist/") || /(^|\/)\.env$/.test(f))).toEqual([]);
  for (const f of ["package.json", "package-lock.json", "runtime/cli.ts", "jobs/order-confirmation.ts"]) expect(files).toContain(f);
  expect(bytes).toBeLessThan(20 * 1024 * 1024);
});

test("multi-stage; the final stage holds only the executable and runs as a numeric non-root user with a state volume and a HEALTHCHECK", () => {
  expect(stages.length).toBeGreaterThanOrEqual(2);
  expect(step("RUN")).toEqual([]); // nothing is installed or built in the final image
  expect(step("COPY").every((c) => c.flags.from !== undefined)).toBe(true);
  const user = step("USER").at(-1)?.rest ?? "";
  expect(user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
  const workdir = step("WORKDIR").at(-1)?.rest;
  expect(step("VOLUME").map((v) => v.rest)).toEqual([workdir!]);
  expect(step("COPY").some((c) => c.flags.chown === user && c.rest.endsWith(` ${workdir}`))).toBe(true);
  expect(step("HEALTHCHECK")).toHaveLength(1);
});

test("its steps, replayed in a clean directory, give an image that runs as its user, answers a put, passes its HEALTHCHECK and sends mail over STARTTLS+AUTH", async () => {
  const work = mkdtempSync(join(tmpdir(), "beanrun-image-"));
  dirs.push(work);
  try {
    chmodSync(work, 0o755); // the image's user must reach its files below
    const context = join(work, "context");
    for (const f of contextFiles(ROOT)) {
      mkdirSync(dirname(join(context, f)), { recursive: true });
      cpSync(join(ROOT, f), join(context, f));
    }
    let log = "";
    const image = replay(stages, context, join(work, "fs"), (s) => (log += s));
    const root = image.roots.get("final")!;
    expect(existsSync(join(root, image.entrypoint[0]!)), log).toBe(true);

    // Run it as the container runtime would: USER, WORKDIR, ENV, published ports on loopback.
    const ports = new Map<string, string>();
    for (const p of image.exposed) ports.set(String(p), String(await freePort()));
    const inRoot = (a: string): string =>
      a
        .replace(/\b0\.0\.0\.0\b/, "127.0.0.1")
        .replace(/\b\d{2,5}\b/g, (n) => ports.get(n) ?? n)
        .replace(/^\/.*/, (p) => join(root, p));
    const [uid, gid] = image.user!.split(":").map(Number);
    const asUser =
      process.getuid?.() === 0 && Bun.which("setpriv") ? ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups"] : [];
    if (!asUser.length) console.warn("container.test: not root or no setpriv: the image runs as the current user");
    const env: Record<string, string> = { PATH: "/usr/local/bin:/usr/bin:/bin" };
    for (const [k, v] of Object.entries(image.env)) env[k] = inRoot(v);
    const run = await launch([...asUser, ...[...image.entrypoint, ...image.cmd].map(inRoot)], { cwd: join(root, image.workdir), env });
    try {
      await putJob(run.port, "order-confirmation", JSON.stringify(ORDER));
      const eml = join(env.BEANRUN_OUTBOX ?? join(root, image.workdir, "tmp/outbox"), "order-A-1001.eml");
      await waitForFile(eml);
      if (asUser.length) expect(statSync(eml).uid).toBe(uid!);
      expect(readFileSync(eml, "utf8")).toContain("Subject: Your order A-1001 is confirmed");
      const wal = image.cmd[image.cmd.indexOf("-b") + 1];
      if (wal) expect(statSync(join(root, wal)).isDirectory()).toBe(true);

      const health = Bun.spawnSync([...asUser, ...image.healthcheck!.map(inRoot)], { env, stdout: "pipe", stderr: "pipe" });
      expect(health.exitCode, health.stderr.toString()).toBe(0);
      const http = image.cmd.find((a) => /:\d+$/.test(a) && a !== image.cmd[image.cmd.indexOf("-l") + 1]);
      if (http) expect((await fetch(`http://${inRoot(http)}/healthz`)).status).toBe(200);
    } finally {
      expect(await run.stop()).toBe(0);
    }
    expect(posix.isAbsolute(image.workdir)).toBe(true);

    // Again with SMTP_URL (as `docker run -e` would set it): the example mailer in the
    // single executable sends through STARTTLS and AUTH to a real SMTP server.
    const got: { secure: boolean; user: unknown; raw: string }[] = [];
    const relay = new SMTPServer({
      logger: false,
      onAuth: (a, _s, cb) =>
        a.username === "mailer" && a.password === "pw" ? cb(null, { user: a.username }) : cb(new Error("bad password")),
      onData(stream, session, done) {
        let raw = "";
        stream.on("data", (c: Buffer) => (raw += c.toString("latin1")));
        stream.on("end", () => {
          got.push({ secure: session.secure, user: session.user, raw });
          done();
        });
      },
    });
    await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
    const relayPort = (relay.server.address() as AddressInfo).port;
    env.SMTP_URL = `smtp://mailer:pw@127.0.0.1:${relayPort}?requireTLS=true&tls.rejectUnauthorized=false`;
    const again = await launch([...asUser, ...[...image.entrypoint, ...image.cmd].map(inRoot)], { cwd: join(root, image.workdir), env });
    try {
      await putJob(again.port, "order-confirmation", JSON.stringify({ ...ORDER, orderId: "A-1002" }));
      for (let i = 0; i < 600 && got.length === 0; i++) await Bun.sleep(50);
      expect(got.map((g) => [g.secure, g.user])).toEqual([[true, "mailer"]]);
      expect(got[0]!.raw).toContain("Message-ID: <order-A-1002@shop.example>");
    } finally {
      expect(await again.stop()).toBe(0);
      await new Promise<void>((r) => relay.close(() => r()));
    }
  } finally {
    await rm(work, { recursive: true, force: true });
    dirs.splice(dirs.indexOf(work), 1);
  }
}, 600_000);
