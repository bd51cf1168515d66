/**
 * The example mailer (jobs/_mail.ts) against real parts: a real SMTP server
 * (smtp-server, nodemailer's own server library) on a loopback port, plain,
 * with STARTTLS and AUTH, and with TLS from the first byte; every message is
 * read back with mailparser. The order-confirmation job itself runs once
 * through `beanrun run` and must leave a real .eml in the outbox.
 *
 * Why: the mailer is copied by users, so its TLS and AUTH paths and its
 * idempotent naming (same key, same file and Message-ID) must really work.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import { type Mail, messageId, outboxTransport, renderEml, smtpTransport } from "../../jobs/_mail.ts";
import { launch, ORDER, putJob, waitForFile } from "../deploy/launch.ts";
import { ROOT } from "../support/servers.ts";

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), "beanrun-mail-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const mail: Mail = {
  from: "The shop <orders@shop.example>",
  to: "Zoë Müller <zoe@example.org>",
  subject: "Ihre Bestellung A-1 ist bestätigt",
  text: "Hallo Zoë,\n\n.a line that starts with a dot\n",
  html: "<p>Hallo <b>Zoë</b></p>",
};

function expectSameMail(got: ParsedMail, key: string): void {
  expect(got.subject).toBe(mail.subject);
  expect(got.from?.text).toBe('"The shop" <orders@shop.example>');
  expect(got.to && !Array.isArray(got.to) ? got.to.value[0]?.address : "").toBe("zoe@example.org");
  expect(got.text).toBe(mail.text);
  expect(got.html).toBe(mail.html);
  expect(got.messageId).toBe(messageId(mail, key));
}

interface Received {
  raw: Buffer;
  secure: boolean;
  user: string | undefined;
  from: string | undefined;
  to: string[];
}

/** A real SMTP server on a free loopback port that keeps what it receives. */
async function smtpServer(opts: Partial<SMTPServerOptions>): Promise<{ port: number; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server = new SMTPServer({
    logger: false,
    ...opts,
    onData(stream, session, done) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        got.push({
          raw: Buffer.concat(chunks),
          secure: session.secure,
          user: typeof session.user === "string" ? session.user : undefined,
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
          to: session.envelope.rcptTo.map((r) => r.address),
        });
        done();
      });
    },
  });
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, got, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const checkPassword: SMTPServerOptions["onAuth"] = (auth, _session, cb) =>
  auth.username === "mailer" && auth.password === "s3cret/+"
    ? cb(null, { user: auth.username })
    : cb(new Error("Invalid username or password"));

test("the outbox gets one complete .eml per key; a re-run overwrites it", async () => {
  const dir = join(tmp(), "outbox");
  const t = outboxTransport(dir);
  const path = await t.send(mail, "order-A-1");
  expect(path).toBe(join(dir, "order-A-1.eml"));
  const first = await simpleParser(readFileSync(path));
  expectSameMail(first, "order-A-1");
  expect(readFileSync(path, "latin1")).toMatch(/^Content-Type: multipart\/alternative;/m);
  await t.send(mail, "order-A-1");
  expect(readdirSync(dir)).toEqual(["order-A-1.eml"]);
  // Keys that are not file names are made safe, never used as paths.
  expect(await t.send(mail, "../x/y")).toBe(join(dir, ".._x_y.eml"));
});

test("renderEml composes the same message the outbox writes", async () => {
  const raw = await renderEml(mail, "k", new Date("2030-01-02T03:04:05Z"));
  const parsed = await simpleParser(raw);
  expectSameMail(parsed, "k");
  expect(parsed.date?.toISOString()).toBe("2030-01-02T03:04:05.000Z");
});

test("plain SMTP to a relay that offers neither TLS nor AUTH", async () => {
  const relay = await smtpServer({ authOptional: true, disabledCommands: ["STARTTLS", "AUTH"] });
  try {
    const where = await smtpTransport(`smtp://127.0.0.1:${relay.port}`).send(mail, "plain");
    expect(where).toBe(`smtp://127.0.0.1:${relay.port}`);
    expect(relay.got).toHaveLength(1);
    expect(relay.got[0]!.from).toBe("orders@shop.example");
    expect(relay.got[0]!.to).toEqual(["zoe@example.org"]);
    expectSameMail(await simpleParser(relay.got[0]!.raw), "plain");
  } finally {
    await relay.close();
  }
});

test("STARTTLS then AUTH when the URL carries credentials and requireTLS", async () => {
  // smtp-server's built-in self-signed certificate: the URL opts out of verification.
  const relay = await smtpServer({ onAuth: checkPassword });
  try {
    const url = `smtp://mailer:${encodeURIComponent("s3cret/+")}@127.0.0.1:${relay.port}?requireTLS=true&tls.rejectUnauthorized=false`;
    const where = await smtpTransport(url).send(mail, "starttls");
    expect(where).toBe(`smtp://127.0.0.1:${relay.port}`); // no credentials in logs
    expect(relay.got.map((g) => [g.secure, g.user])).toEqual([[true, "mailer"]]);
    expectSameMail(await simpleParser(relay.got[0]!.raw), "starttls");
  } finally {
    await relay.close();
  }
});

test("smtps:// speaks TLS from the first byte, then AUTH", async () => {
  const relay = await smtpServer({ secure: true, onAuth: checkPassword });
  try {
    const url = `smtps://mailer:${encodeURIComponent("s3cret/+")}@127.0.0.1:${relay.port}?tls.rejectUnauthorized=false`;
    expect(await smtpTransport(url).send(mail, "smtps")).toBe(`smtps://127.0.0.1:${relay.port}`);
    expect(relay.got.map((g) => [g.secure, g.user])).toEqual([[true, "mailer"]]);
  } finally {
    await relay.close();
  }
});

test("a wrong password, a relay without STARTTLS under requireTLS, and a bad scheme are errors (the job retries)", async () => {
  const relay = await smtpServer({ onAuth: checkPassword });
  const bare = await smtpServer({ authOptional: true, disabledCommands: ["STARTTLS"] });
  try {
    const wrong = `smtp://mailer:nope@127.0.0.1:${relay.port}?tls.rejectUnauthorized=false`;
    await expect(smtpTransport(wrong).send(mail, "k")).rejects.toThrow(/Invalid username or password/);
    const noTls = `smtp://127.0.0.1:${bare.port}?requireTLS=true`;
    await expect(smtpTransport(noTls).send(mail, "k")).rejects.toThrow(/STARTTLS/);
    expect(() => smtpTransport("http://127.0.0.1:25")).toThrow("SMTP_URL must start with smtp:// or smtps://");
    expect(relay.got).toHaveLength(0);
    expect(bare.got).toHaveLength(0);
  } finally {
    await Promise.all([relay.close(), bare.close()]);
  }
});

test("under Deno the same module sends through STARTTLS and AUTH", async () => {
  const relay = await smtpServer({ onAuth: checkPassword });
  try {
    // Inside the project, so Deno resolves npm packages through its package.json.
    mkdirSync(join(ROOT, "tmp"), { recursive: true });
    const script = join(mkdtempSync(join(ROOT, "tmp", "mail-deno-")), "send.ts");
    dirs.push(dirname(script));
    writeFileSync(
      script,
      `import { smtpTransport } from ${JSON.stringify(join(ROOT, "jobs/_mail.ts"))};
const m = ${JSON.stringify(mail)};
console.log(await smtpTransport(Deno.args[0]).send(m, "deno"));\n`,
    );
    const url = `smtp://mailer:${encodeURIComponent("s3cret/+")}@127.0.0.1:${relay.port}?requireTLS=true&tls.rejectUnauthorized=false`;
    const proc = Bun.spawn([join(ROOT, "node_modules/.bin/deno"), "run", "-A", script, url], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ code, out, err }).toEqual({ code: 0, out: `smtp://127.0.0.1:${relay.port}\n`, err: "" });
    expect(relay.got.map((g) => [g.secure, g.user])).toEqual([[true, "mailer"]]);
    expectSameMail(await simpleParser(relay.got[0]!.raw), "deno");
  } finally {
    await relay.close();
  }
}, 60_000);

test("the order-confirmation job, run by `beanrun run`, writes its .eml into BEANRUN_OUTBOX", async () => {
  const dir = tmp();
  const jobs = join(dir, "jobs");
  const outbox = join(dir, "outbox");
  mkdirSync(jobs);
  writeFileSync(
    join(jobs, "order-confirmation.ts"),
    `export { default } from ${JSON.stringify(join(ROOT, "jobs/order-confirmation.ts"))};\n`,
  );
  const run = await launch([process.execPath, join(ROOT, "runtime/cli.ts"), "run", "-l", "127.0.0.1", "-p", "0", "--jobs", jobs], {
    cwd: dir,
    env: { ...process.env, BEANRUN_OUTBOX: outbox, SMTP_URL: "" },
  });
  try {
    await putJob(run.port, "order-confirmation", JSON.stringify(ORDER));
    const eml = join(outbox, "order-A-1001.eml");
    await waitForFile(eml);
    const parsed = await simpleParser(readFileSync(eml));
    expect(parsed.subject).toBe("Your order A-1001 is confirmed");
    expect(parsed.text).toContain("2 x Mug (MUG-1)");
    expect(parsed.text).toContain("€25.00");
    expect(parsed.html).toContain("<b>A-1001</b>");
    expect(parsed.messageId).toBe("<order-A-1001@shop.example>");
  } finally {
    expect(await run.stop()).toBe(0);
  }
}, 60_000);
