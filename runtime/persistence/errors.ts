/** An error whose message is meant for the operator as it is (no stack trace). */
export class WalError extends Error {
  override name = "WalError";
}

/** A short description of a node:fs error: "ENOSPC: no space left on device". */
export function describe(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return err.message ?? String(e);
}

export function codeOf(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}
