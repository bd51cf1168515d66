/**
 * beanrun's command line under Deno (`deno run -A runtime/cli-deno.ts`; the
 * package's dist/node/cli.js is built from this file): chooses the Deno
 * adapter (adapters/deno.ts, see adapters/platform.ts), then runs the
 * command (cli/main.ts).
 */
import { deno } from "./adapters/deno.ts";
import { usePlatform } from "./adapters/platform.ts";
import { runCli } from "./cli/main.ts";

usePlatform(deno);
await runCli(process.argv.slice(2));
