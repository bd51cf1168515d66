/**
 * Order confirmation email: validates the order, renders a text and an HTML
 * body, and delivers a real .eml file into the outbox directory
 * (BEANRUN_OUTBOX, default tmp/outbox), or through SMTP when SMTP_URL is set
 * (TLS and AUTH as the URL asks: see _mail.ts). A retry of the same order
 * rewrites the same file and sends the same Message-ID.
 *
 *   await enqueue(orderConfirmation, { orderId: "A-1001", customer: {...}, items: [...] });
 */
import * as v from "valibot";
import { defineJob } from "../runtime/index.ts";
import { defaultTransport, type MailTransport } from "./_mail.ts";

const Item = v.object({
  sku: v.pipe(v.string(), v.nonEmpty()),
  name: v.pipe(v.string(), v.nonEmpty()),
  quantity: v.pipe(v.number(), v.integer(), v.minValue(1)),
  /** In cents, to keep money exact. */
  unitPrice: v.pipe(v.number(), v.integer(), v.minValue(0)),
});

const Order = v.object({
  orderId: v.pipe(v.string(), v.regex(/^[\w-]{1,64}$/)),
  customer: v.object({
    name: v.pipe(v.string(), v.nonEmpty()),
    email: v.pipe(v.string(), v.email()),
  }),
  items: v.pipe(v.array(Item), v.minLength(1)),
  currency: v.optional(v.picklist(["EUR", "USD", "GBP"]), "EUR"),
});

export type Order = v.InferOutput<typeof Order>;

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

export function render(order: Order): { subject: string; text: string; html: string } {
  const money = (cents: number): string => new Intl.NumberFormat("en", { style: "currency", currency: order.currency }).format(cents / 100);
  const total = order.items.reduce((s, i) => s + i.quantity * i.unitPrice, 0);
  const subject = `Your order ${order.orderId} is confirmed`;
  const lines = order.items.map((i) => `  ${i.quantity} x ${i.name} (${i.sku})  ${money(i.quantity * i.unitPrice)}`);
  const text = [
    `Hello ${order.customer.name},`,
    "",
    `thank you for your order ${order.orderId}. We are preparing it now.`,
    "",
    ...lines,
    "",
    `  Total: ${money(total)}`,
    "",
    "-- The shop",
  ].join("\n");
  const rows = order.items
    .map(
      (i) =>
        `<tr><td>${i.quantity}</td><td>${escapeHtml(i.name)}</td><td>${escapeHtml(i.sku)}</td><td align="right">${money(i.quantity * i.unitPrice)}</td></tr>`,
    )
    .join("");
  const html = `<!doctype html><html><body style="font-family:sans-serif">
<p>Hello ${escapeHtml(order.customer.name)},</p>
<p>thank you for your order <b>${escapeHtml(order.orderId)}</b>. We are preparing it now.</p>
<table cellpadding="4"><thead><tr><th>Qty</th><th>Item</th><th>SKU</th><th>Price</th></tr></thead>
<tbody>${rows}</tbody><tfoot><tr><td colspan="3"><b>Total</b></td><td align="right"><b>${money(total)}</b></td></tr></tfoot></table>
</body></html>`;
  return { subject, text, html };
}

/** Tests and apps can swap the transport (e.g. an SMTP relay). */
export const mail: { transport: MailTransport } = { transport: defaultTransport() };

export default defineJob({
  tube: "order-confirmation",
  schema: Order,
  priority: 100,
  ttr: 30,
  concurrency: 4,
  retries: { attempts: 5, backoff: { base: 5, factor: 3, max: 600 } },
  async handler(order, ctx) {
    const { subject, text, html } = render(order);
    const from = process.env.MAIL_FROM ?? "The shop <orders@shop.example>";
    const to = `${order.customer.name} <${order.customer.email}>`;
    const msg = { from, to, subject, text, html };
    const where = await mail.transport.send(msg, `order-${order.orderId}`);
    ctx.log.info("confirmation sent", { orderId: order.orderId, to: order.customer.email, where });
  },
});
