/**
 * How the console shows a job body: safely, whatever the bytes are. A body
 * is decoded as strict UTF-8; JSON is pretty-printed; anything else that is
 * not valid UTF-8 is shown as text with each undecodable byte escaped as
 * \xNN. Only the first PREVIEW_BYTES are looked at, so a 1 GiB body costs
 * the page as much as a 64 KiB one; the view says when it was cut. The page
 * inserts the result as text (never as HTML), so no escaping for HTML here.
 */
export const PREVIEW_BYTES = 64 * 1024;

export interface BodyView {
  /** "json" (pretty-printed), "text" (valid UTF-8), "binary" (escaped bytes). */
  kind: "json" | "text" | "binary";
  text: string;
  /** Total body size in bytes (without the protocol's trailing CRLF). */
  size: number;
  truncated: boolean;
}

const strict = new TextDecoder("utf-8", { fatal: true });

/** A lossless, printable rendering of bytes that are not valid UTF-8. */
function escapeBytes(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c === 0x5c) s += "\\\\";
    else if (c === 0x0a || c === 0x09 || (c >= 0x20 && c < 0x7f)) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return s;
}

/** Decodes UTF-8, allowing a multi-byte character cut at the end (the preview limit). */
function decodeUtf8(b: Uint8Array, cut: boolean): string | null {
  for (let drop = 0; drop <= (cut ? 3 : 0); drop++) {
    try {
      return strict.decode(b.subarray(0, b.length - drop));
    } catch {
      // try shorter
    }
  }
  return null;
}

export function viewBody(body: Uint8Array, limit = PREVIEW_BYTES): BodyView {
  const size = body.length;
  const truncated = size > limit;
  const head = truncated ? body.subarray(0, limit) : body;
  const text = decodeUtf8(head, truncated);
  if (text === null) return { kind: "binary", text: escapeBytes(head), size, truncated };
  if (!truncated) {
    const t = text.trim();
    if (t.startsWith("{") || t.startsWith("[")) {
      try {
        return { kind: "json", text: JSON.stringify(JSON.parse(t), null, 2), size, truncated };
      } catch {
        // not JSON after all
      }
    }
  }
  return { kind: "text", text, size, truncated };
}
