/**
 * Why a job module could not be imported, as one message that starts with
 * file:line:column: the place Bun's parser or resolver reports (its
 * BuildMessage/ResolveMessage carry a `position`), else the first stack frame
 * in the job's own file (Deno's syntax errors and any error thrown while the
 * module evaluates), else just the file. The offending line is shown under
 * the message when the runtime gives it.
 *
 * node:path and node:url are loaded only when a module fails: a worker
 * process imports this file at its start (see load-job.ts).
 */
import { isEmbedded } from "../adapters/embedded.ts";

interface Position {
  file?: string;
  line?: number;
  column?: number;
  lineText?: string;
}

const ANSI = /\u001b\[[0-9;]*m/g;

function shown(file: string): string {
  const path = file.startsWith("file://") ? process.getBuiltinModule("node:url").fileURLToPath(file) : file;
  if (isEmbedded(path)) return path;
  return process.getBuiltinModule("node:path").relative(process.cwd(), path) || path;
}

/** "jobs/x.ts:4:15: Unexpected ;" plus the source line and a caret when known. */
export function describeLoadError(display: string, path: string, e: unknown): string {
  const err = e as { message?: unknown; stack?: unknown; position?: Position | null; name?: unknown };
  const message = String(err?.message ?? e).replace(ANSI, "");
  const pos = err?.position;
  if (pos && typeof pos.line === "number" && pos.line > 0) {
    const where = `${shown(pos.file || path)}:${pos.line}:${pos.column ?? 0}`;
    const caret = pos.lineText ? `\n    ${pos.lineText}\n    ${" ".repeat(Math.max(0, (pos.column ?? 1) - 1))}^` : "";
    return `${where}: ${message}${caret}`;
  }
  // "at file:///app/jobs/x.ts:4:15" or "at fn (/app/jobs/x.ts:4:15)": the first frame in this job's file.
  const text = `${message}\n${String(err?.stack ?? "").replace(ANSI, "")}`;
  const url = path.startsWith("/") ? `file://${path}` : path;
  for (const m of text.matchAll(/(?:\(|at )((?:file:\/\/)?\/[^\s()]+?):(\d+):(\d+)/g)) {
    const file = m[1]!;
    if (file !== path && file !== url) continue;
    const name = typeof err?.name === "string" && !message.startsWith(err.name) ? `${err.name}: ` : "";
    // Deno puts a code excerpt in the message itself: keep it, without the stack that follows.
    const body = message
      .split("\n")
      .filter((l) => !/^\s+at /.test(l))
      .join("\n")
      .trimEnd();
    return `${display}:${m[2]}:${m[3]}: ${name}${body}`;
  }
  return `${display}: cannot be loaded: ${message
    .split("\n")
    .filter((l) => !/^\s+at /.test(l))
    .join("\n")
    .trimEnd()}`;
}
