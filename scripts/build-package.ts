/**
 * What `npm pack` (prepack) builds for the package's users besides the
 * TypeScript sources Bun runs directly:
 *   dist/node/index.js, index.cjs    the job API and enqueue for Node (ESM, CommonJS) and Deno
 *   dist/node/client.js, client.cjs  the typed beanstalkd client
 *   dist/node/cli.js                 the command line as JavaScript for Deno, from runtime/cli-deno.ts (Deno
 *                                    refuses TypeScript under node_modules)
 *   dist/types/**.d.ts               declarations for all of the above
 * Outputs are git-ignored. Run with Bun: `bun scripts/build-package.ts`.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const out = join(root, "dist");
rmSync(join(out, "node"), { recursive: true, force: true });
rmSync(join(out, "types"), { recursive: true, force: true });

async function bundle(entry: string, name: string, format: "esm" | "cjs"): Promise<void> {
  const r = await Bun.build({
    entrypoints: [join(root, entry)],
    target: "node",
    format,
    packages: "external",
    naming: `${name}.${format === "esm" ? "js" : "cjs"}`,
    outdir: join(out, "node"),
  });
  if (!r.success) {
    for (const m of r.logs) console.error(m);
    throw new Error(`bundling ${entry} (${format}) failed`);
  }
}

await bundle("runtime/index.ts", "index", "esm");
await bundle("runtime/index.ts", "index", "cjs");
await bundle("runtime/client/index.ts", "client", "esm");
await bundle("runtime/client/index.ts", "client", "cjs");
await bundle("runtime/cli-deno.ts", "cli", "esm");

const tsc = spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tsconfig.types.json")], {
  stdio: "inherit",
  env: { ...process.env, BUN_BE_BUN: "1" },
});
if (tsc.status !== 0) throw new Error("tsc (declarations) failed");

// Declarations keep the sources' "./x.ts" specifiers; consumers resolve "./x.js" to x.d.ts under every moduleResolution.
function rewrite(dir: string): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) rewrite(p);
    else if (name.endsWith(".d.ts")) {
      writeFileSync(p, readFileSync(p, "utf8").replace(/(from\s+"\.{1,2}\/[^"]*)\.ts"/g, '$1.js"'));
    }
  }
}
rewrite(join(out, "types"));
console.error("build-package: dist/node and dist/types written");
