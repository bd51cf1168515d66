/**
 * Who may do what over HTTP. The console can change the queue (kick, delete,
 * pause, put) and show job bodies, so it is guarded even though it binds to
 * loopback by default:
 *
 * - Host check: the Host header must name loopback (localhost, 127.x, [::1])
 *   or a name the operator configured (the bound address counts). A page on
 *   another site that re-points its DNS name at 127.0.0.1 (DNS rebinding)
 *   still sends its own name in Host, so it gets 421 and nothing else.
 * - Mutations are POST with a JSON body, an Origin equal to the page's own,
 *   and the per-process CSRF token the page was served with in a header. A
 *   cross-site form or fetch can meet none of these (a custom header and a
 *   JSON content type need a CORS preflight we never grant).
 * - Off loopback, mutations and job bodies also need the operator's token
 *   (`--http-token` or BEANRUN_HTTP_TOKEN) as `Authorization: Bearer ...`;
 *   without a configured token they are simply unavailable there. A
 *   configured token is required on loopback too.
 */
import { timingSafeEqual } from "node:crypto";

export interface GuardOptions {
  /** The address the HTTP listener is bound to. */
  bindHost: string;
  /** Extra names accepted in the Host header (e.g. the name a proxy forwards). */
  allowedHosts?: readonly string[];
  /** The operator's token; absent means none. */
  token?: string;
  /** The CSRF token embedded in the served page (random per process by default). */
  csrf?: string;
}

export interface Guard {
  /** Whether the listener is on a loopback address. */
  readonly loopback: boolean;
  /** Whether a token is configured. */
  readonly tokenRequired: boolean;
  readonly csrf: string;
  /** null when the Host header is acceptable, else why not. */
  hostProblem(req: Request): string | null;
  /** null when the request may see job bodies, else why not. */
  bodiesProblem(req: Request): string | null;
  /** null when the request may change state, else why not (with the HTTP status to answer). */
  mutationProblem(req: Request): { status: number; message: string } | null;
}

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1", "[::1]", "ip6-localhost", "ip6-loopback"]);

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return LOOPBACK_NAMES.has(h) || /^127(\.\d{1,3}){3}$/.test(h) || h.endsWith(".localhost") || h === "::ffff:127.0.0.1";
}

/** The host part of a Host header: "[::1]:8080" -> "[::1]", "a.b:80" -> "a.b". */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end < 0 ? h : h.slice(0, end + 1);
  }
  const colon = h.lastIndexOf(":");
  return colon < 0 ? h : h.slice(0, colon);
}

function randomToken(): string {
  const b = new Uint8Array(24);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function bearer(req: Request): string | null {
  const h = req.headers.get("authorization");
  const m = h ? /^Bearer\s+(.+)$/i.exec(h) : null;
  return m ? m[1]!.trim() : null;
}

export function createGuard(o: GuardOptions): Guard {
  const loopback = isLoopbackHost(o.bindHost);
  const allowed = new Set<string>();
  const bound = o.bindHost.toLowerCase();
  const unspecified = bound === "0.0.0.0" || bound === "::" || bound === "[::]";
  if (!unspecified) allowed.add(bound.includes(":") && !bound.startsWith("[") ? `[${bound}]` : bound);
  // A bare IPv6 address (a pod's IP in an IPv6 cluster) comes in brackets in a Host header.
  for (const n of o.allowedHosts ?? []) allowed.add(/^[0-9a-f]*:[0-9a-f:.]*:/i.test(n) ? `[${n.toLowerCase()}]` : hostName(n));
  const token = o.token && o.token.length > 0 ? o.token : undefined;
  const csrf = o.csrf ?? randomToken();

  const tokenProblem = (req: Request, what: string): string | null => {
    if (!token) return loopback ? null : `${what} need --http-token (or BEANRUN_HTTP_TOKEN) when the console is not on loopback`;
    const given = bearer(req);
    if (given === null) return `${what} need the token (Authorization: Bearer ...)`;
    return sameSecret(given, token) ? null : "wrong token";
  };

  return {
    loopback,
    tokenRequired: token !== undefined || !loopback,
    csrf,
    hostProblem(req) {
      const h = req.headers.get("host");
      if (!h) return "missing Host header";
      const name = hostName(h);
      if (isLoopbackHost(name) || allowed.has(name)) return null;
      return `Host "${name}" is not one this console answers to (loopback names${allowed.size ? `, ${[...allowed].join(", ")}` : ""}); add it with --http-allow-host`;
    },
    bodiesProblem: (req) => tokenProblem(req, "job bodies"),
    mutationProblem(req) {
      if (req.method !== "POST") return { status: 405, message: "actions are POST" };
      const type = req.headers.get("content-type") ?? "";
      if (!/^application\/json\b/i.test(type)) return { status: 415, message: "actions take a JSON body (application/json)" };
      const origin = req.headers.get("origin");
      const host = req.headers.get("host");
      if (!origin || !host) return { status: 403, message: "cross-origin request refused (no Origin)" };
      let originHost: string;
      try {
        originHost = new URL(origin).host.toLowerCase();
      } catch {
        return { status: 403, message: "cross-origin request refused (bad Origin)" };
      }
      if (originHost !== host.trim().toLowerCase()) return { status: 403, message: "cross-origin request refused" };
      const c = req.headers.get("x-beanrun-csrf");
      if (!c || !sameSecret(c, csrf)) return { status: 403, message: "missing or stale CSRF token: reload the page" };
      const t = tokenProblem(req, "actions");
      return t ? { status: 401, message: t } : null;
    },
  };
}
