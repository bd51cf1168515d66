/**
 * Temporary directories for tests: each under the system temp dir with a
 * unique name (mkdtemp), so test files running at the same time never share
 * one; a test removes what it made in afterAll (removeDir ignores a
 * directory already gone).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function tempDir(tag = "test"): string {
  return mkdtempSync(join(tmpdir(), `beanrun-${tag}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
