/**
 * Files compiled into the executable by `bun build --compile` (the jobs,
 * by `beanrun build`) are listed and imported at run time under
 * /$bunfs/root/<dir>/. This is the one place that knows that path; a path
 * under it is never on disk (no file watching, no file:// URL, shown as is).
 */

/** The directory the executable lists `dir` (relative to the build's root) under. */
export function embeddedDir(dir: string): string {
  return `/$bunfs/root/${dir}`;
}

/** True for a path inside the executable's embedded files. */
export function isEmbedded(path: string): boolean {
  return path.startsWith("/$bunfs/");
}
