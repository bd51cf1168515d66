/**
 * Where a job definition was written, so that `enqueue(job, ...)` knows the
 * tube (the file name) in any process, not only in the runner that loaded
 * the module. defineJob records its caller's file from the call stack under
 * a symbol key (invisible to the field checks, shared by every bundled copy
 * of beanrun).
 *
 * The stack is trusted only when it is unambiguous: the caller must be in
 * another file than defineJob itself. When a bundler has put both into one
 * file (an app bundled with esbuild), the caller's file name says nothing
 * about the tube, so nothing is recorded and enqueue asks for `tube:` rather
 * than guess. `beanrun build` keeps source maps, so inside its executable
 * the stack names the original jobs/<tube>.ts.
 */

export const DEFINED_IN: unique symbol = Symbol.for("beanrun.definedIn") as never;

/** "at fn (file:line:col)" or "at file:line:col" (V8 and JavaScriptCore print both forms). */
const FRAME = /^\s*at (?:.*? \()?(.+?):\d+:\d+\)?$/;

function frames(stack: string): string[] {
  const files: string[] = [];
  for (const line of stack.split("\n")) {
    const m = FRAME.exec(line);
    if (m) files.push(m[1]!);
  }
  return files;
}

/**
 * The file that called the function calling this one (defineJob's caller),
 * or undefined when the stack cannot say it with certainty.
 */
export function callerFile(): string | undefined {
  const files = frames(new Error().stack ?? "");
  // [0] this function, [1] defineJob, [2] its caller.
  const self = files[1];
  const caller = files[2];
  if (!self || !caller || caller === self || caller.startsWith("native") || caller === "<anonymous>") return undefined;
  return caller;
}

const JOB_EXTS = /\.(?:ts|mts|js|mjs)$/;

/**
 * The tube a job file's name makes ("/app/jobs/send-mail.ts" -> "send-mail",
 * "file:///$bunfs/root/jobs/a.js" -> "a"), or null when the name is not a job
 * file's: helpers ("_x.ts"), dotfiles, tests ("x.test.ts"), declarations, other extensions.
 */
export function jobFileTube(file: string): string | null {
  const base =
    file
      .replace(/[?#].*$/, "")
      .split(/[\\/]/)
      .pop() ?? "";
  if (!JOB_EXTS.test(base) || base.startsWith("_") || base.startsWith(".") || /\.(?:test|spec|d)\.[mc]?[jt]s$/.test(base)) return null;
  return base.replace(JOB_EXTS, "");
}
