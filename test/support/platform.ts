/**
 * Tests run in-process pieces (startServer, the runner) without an entry
 * point, so this preload (bunfig.toml [test] preload) chooses the runtime's
 * adapter as runtime/cli.ts does: Bun's (runtime/adapters/platform.ts).
 */
import { bun } from "../../runtime/adapters/bun.ts";
import { usePlatform } from "../../runtime/adapters/platform.ts";

usePlatform(bun);
