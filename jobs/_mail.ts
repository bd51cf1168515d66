/**
 * Mail for the example jobs, built and sent with nodemailer (the maintained
 * standard for mail in Node-compatible runtimes) rather than by hand.
 *
 * - The message (text + HTML as multipart/alternative, encoded headers, a
 *   Message-ID) is composed by nodemailer's MailComposer.
 * - defaultTransport(): with SMTP_URL unset, each message is written
 *   atomically to `<BEANRUN_OUTBOX or tmp/outbox>/<key>.eml`. With SMTP_URL
 *   it goes through nodemailer's SMTP transport, configured by the URL:
 *     smtp://relay:25                 plain, upgraded by STARTTLS when offered
 *     smtp://user:pass@relay:587?requireTLS=true   STARTTLS required, then AUTH
 *     smtps://user:pass@relay:465     TLS from the first byte, then AUTH
 *   Query parameters are nodemailer options (`tls.rejectUnauthorized=false`
 *   for a relay with a self-signed certificate, `pool=true` to keep
 *   connections open). Credentials never appear in what send() returns.
 * - `key` names a message idempotently: a re-run overwrites the same .eml
 *   and sends the same Message-ID, so a retry after a lost reply lets the
 *   receiving side drop the duplicate.
 *
 * Files starting with "_" in jobs/ are helpers, not jobs.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import nodemailer from "nodemailer";
import MailComposer from "nodemailer/lib/mail-composer";

export interface Mail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface MailTransport {
  /** Delivers `mail`; returns where it went (a file path or the relay's URL without credentials). */
  send(mail: Mail, key: string): Promise<string>;
}

/** The Message-ID for `key`: the same key always gives the same id. */
export function messageId(mail: Mail, key: string): string {
  const domain = /@([^\s>]+)>?\s*$/.exec(mail.from)?.[1] ?? "localhost";
  return `<${key.replace(/[^\w.-]/g, "_")}@${domain}>`;
}

/** The complete RFC 5322 message, as it would be sent. */
export function renderEml(mail: Mail, key: string, date = new Date()): Promise<Buffer> {
  return new MailComposer({ ...mail, messageId: messageId(mail, key), date }).compile().build();
}

/** Writes each message atomically (temp file, then rename) as <dir>/<key>.eml. */
export function outboxTransport(dir: string): MailTransport {
  return {
    async send(mail, key) {
      const raw = await renderEml(mail, key);
      mkdirSync(dir, { recursive: true });
      const path = join(dir, `${key.replace(/[^\w.-]/g, "_")}.eml`);
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, raw);
      renameSync(tmp, path);
      return path;
    },
  };
}

/**
 * Sends through the relay named by `url` (see the top of this file). The
 * timeouts fit the example job's 30 s TTR; the URL's query can override them.
 */
export function smtpTransport(url: string): MailTransport {
  const u = new URL(url);
  if (u.protocol !== "smtp:" && u.protocol !== "smtps:") {
    throw new Error(`SMTP_URL must start with smtp:// or smtps://, not ${u.protocol}//`);
  }
  const where = `${u.protocol}//${u.host}`;
  const transporter = nodemailer.createTransport({
    url,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  return {
    async send(mail, key) {
      await transporter.sendMail({ ...mail, messageId: messageId(mail, key) });
      return where;
    },
  };
}

export function defaultTransport(env: Record<string, string | undefined> = process.env): MailTransport {
  const smtp = env.SMTP_URL;
  return smtp ? smtpTransport(smtp) : outboxTransport(env.BEANRUN_OUTBOX ?? "tmp/outbox");
}
