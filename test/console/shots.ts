/** Screenshots of console pages for docs/screenshots/ (refreshed by every browser test run; set NO_SCREENSHOTS=1 to skip). */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";

const DIR = join(import.meta.dir, "../../docs/screenshots");

export async function screenshot(p: Page, name: string): Promise<void> {
  if (process.env.NO_SCREENSHOTS) return;
  mkdirSync(DIR, { recursive: true });
  await p.screenshot({ path: join(DIR, `${name}.png`), fullPage: true });
}
