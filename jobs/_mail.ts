/**
 * Mail for the example jobs: build an RFC 5322 message (text + HTML,
 * multipart/alternative) and hand it to a transport. The default transport
 * writes `<outbox>/<name>.eml`; set SMTP_URL=smtp://host:port to send through
 * an SMTP relay instead (plain SMTP, no auth: a local relay or a test catcher),
 * or pass any object with `send()`.
 *
 * Files starting with "_" in jobs/ are helpers, not jobs.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";

export interface Mail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface MailTransport {
  /** `key` names the message idempotently (a re-run overwrites, never duplicates). */
  send(mail: Mail, raw: string, key: string): Promise<string>;
}

const enc = (s: string): string => (/^[\x20-\x7e]*$/.test(s) ? s : `=?UTF-8?B?${Buffer.from(s).toString("base64")}?=`);
const b64 = (s: string): string => Buffer.from(s).toString("base64").replace(/.{76}/g, "$&\r\n");

export function renderEml(m: Mail, date = new Date()): string {
  const boundary = `=_beanrun_${randomUUID()}`;
  const domain = m.from.split("@")[1]?.replace(/>$/, "") ?? "localhost";
  return [
    `From: ${m.from}`,
    `To: ${m.to}`,
    `Subject: ${enc(m.subject)}`,
    `Date: ${date.toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: <${randomUUID()}@${domain}>`,
    "MIME-Version: 1.0",
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
    "",
    `--${boundary}`,
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: base64",
    "",
    b64(m.text),
    `--${boundary}`,
    "Content-Type: text/html; charset=utf-8",
    "Content-Transfer-Encoding: base64",
    "",
    b64(m.html),
    `--${boundary}--`,
    "",
  ].join("\r\n");
}

/** Writes each message atomically (temp file, then rename) as <dir>/<key>.eml. */
export function outboxTransport(dir: string): MailTransport {
  return {
    async send(_m, raw, key) {
      mkdirSync(dir, { recursive: true });
      const path = join(dir, `${key.replace(/[^\w.-]/g, "_")}.eml`);
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, raw);
      renameSync(tmp, path);
      return path;
    },
  };
}

/** Minimal SMTP (RFC 5321) client: EHLO, MAIL FROM, RCPT TO, DATA, QUIT. */
export function smtpTransport(url: string): MailTransport {
  const u = new URL(url);
  const host = u.hostname;
  const port = Number(u.port || 25);
  const addr = (s: string): string => /<([^>]+)>/.exec(s)?.[1] ?? s.trim();
  return {
    send: (m, raw) =>
      new Promise((resolve, reject) => {
        const sock = connect(port, host);
        const steps = [
          `EHLO beanrun`,
          `MAIL FROM:<${addr(m.from)}>`,
          `RCPT TO:<${addr(m.to)}>`,
          "DATA",
          raw.replace(/^\./gm, "..") + "\r\n.",
          "QUIT",
        ];
        let buf = "";
        let step = -1;
        sock.setTimeout(30_000, () => sock.destroy(new Error("SMTP timeout")));
        sock.on("error", reject);
        sock.on("data", (d) => {
          buf += d.toString();
          // A reply is complete when its last line has "NNN " (not "NNN-").
          const lines = buf.split("\r\n");
          const last = lines[lines.length - 2];
          if (!last || !/^\d{3} /.test(last)) return;
          buf = "";
          const code = Number(last.slice(0, 3));
          if (code >= 400) return sock.destroy(new Error(`SMTP ${steps[step] ?? "greeting"}: ${last}`));
          if (++step < steps.length) sock.write(steps[step] + "\r\n");
          else sock.end();
          if (step === steps.length - 1) resolve(`smtp://${host}:${port}`);
        });
      }),
  };
}

export function defaultTransport(): MailTransport {
  const smtp = process.env.SMTP_URL;
  return smtp ? smtpTransport(smtp) : outboxTransport(process.env.BEANRUN_OUTBOX ?? "tmp/outbox");
}
