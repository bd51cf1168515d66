/**
 * The entry point of `run`'s worker processes under Bun, built into one file
 * by adapters/worker-bundle.ts and started as `bun <bundle> worker ...` (the
 * same arguments as `beanrun worker`, cli/worker.ts). A worker then loads
 * one module instead of the ~35 TypeScript files its code spans, each
 * resolved and transpiled on its own: about a third of a worker process's
 * start, which is what a burst of cold tubes waits for
 * (bench/runner/scale.ts).
 *
 * A job module imports beanrun's public API (`import { defineJob } from
 * "beanrun"`, or by path, "../runtime/index.ts"), and must get the very
 * modules the worker runs on: enqueue() from a handler shares the worker's
 * tube registry, a Client its classes. So a Bun plugin answers the import of
 * the runtime this bundle was built from (its index.ts and client/index.ts,
 * whichever specifier resolved to them) with this bundle's own modules.
 *
 * Under Deno, and in a `bun build --compile` executable (already one
 * bundle), workers start from the program's own entry point instead.
 */
import { bun } from "./adapters/bun.ts";
import { usePlatform } from "./adapters/platform.ts";
import { main } from "./cli/worker.ts";
import * as client from "./client/index.ts";
import * as api from "./index.ts";

/** The runtime directory the bundle was built from (adapters/worker-bundle.ts defines it). */
declare const BEANRUN_RUNTIME_DIR: string;

const escaped = BEANRUN_RUNTIME_DIR.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
Bun.plugin({
  name: "beanrun: this worker's own modules",
  setup(build) {
    build.onLoad({ filter: new RegExp(`^${escaped}/index\\.ts$`) }, () => ({ exports: api, loader: "object" }));
    build.onLoad({ filter: new RegExp(`^${escaped}/client/index\\.ts$`) }, () => ({ exports: client, loader: "object" }));
  },
});

usePlatform(bun);
// argv: bun, this bundle, "worker", then the worker's flags.
main(process.argv.slice(3)).then((code) => process.exit(code));
