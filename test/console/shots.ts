/**
 * Screenshots of console pages for docs/screenshots/, taken when
 * BEANRUN_SCREENSHOTS=1 (so ordinary test runs leave the tree clean):
 *   BEANRUN_SCREENSHOTS=1 npx bun test --timeout 120000 test/console
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";

const DIR = join(import.meta.dir, "../../docs/screenshots");

export async function screenshot(p: Page, name: string): Promise<void> {
  if (process.env.BEANRUN_SCREENSHOTS !== "1") return;
  mkdirSync(DIR, { recursive: true });
  await p.screenshot({ path: join(DIR, `${name}.png`), fullPage: true });
}
