#!/usr/bin/env bun
/**
 * beanrun's command line under Bun, and the entry point `beanrun build`
 * compiles into the executable: chooses the Bun adapter (adapters/bun.ts,
 * see adapters/platform.ts), then runs the command (cli/main.ts).
 */
import { bun } from "./adapters/bun.ts";
import { usePlatform } from "./adapters/platform.ts";
import { runCli } from "./cli/main.ts";

usePlatform(bun);
await runCli(process.argv.slice(2));
