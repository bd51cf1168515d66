/**
 * The Bun adapter (platform.ts): Bun.listen, Bun.serve, and starting this
 * program again under Bun or as the compiled executable. runtime/cli.ts
 * installs it; nothing else in this file runs unless it does.
 *
 * Whether this is a compiled executable is known when it is built:
 * `beanrun build` defines BEANRUN_EMBEDDED_JOBS (the jobs compiled in), so
 * a compiled program starts itself as `<exe> worker ...`, and `bun cli.ts`
 * as `bun <main> worker ...`.
 */
import { connect } from "./bun-connect.ts";
import { listen } from "./bun-listen.ts";
import type { Platform } from "./platform.ts";

/** Set by `beanrun build` (--define) in compiled executables only. */
declare const BEANRUN_EMBEDDED_JOBS: string | undefined;
const COMPILED = typeof BEANRUN_EMBEDDED_JOBS === "string";

export const bun: Platform = {
  name: `bun ${Bun.version}`,
  canCompile: true,
  bundleWorkers: !COMPILED,
  listen,
  connect,
  serveHttp(host, port, fetch) {
    const s = Bun.serve({ hostname: host, port, fetch });
    return { port: s.port!, stop: async () => void s.stop(true) };
  },
  selfCommand(args) {
    return COMPILED ? { file: process.execPath, args: [...args] } : { file: process.execPath, args: [Bun.main, ...args] };
  },
};
