/** What stats reports about the machine and process, read through node:os/node:process (Bun and Deno provide both). */
import * as os from "node:os";
import process from "node:process";
import type { HostInfo } from "../protocol/context.ts";

export function hostInfo(version: string): HostInfo {
  const id = crypto.getRandomValues(new Uint8Array(8));
  return {
    pid: process.pid,
    version,
    hostname: os.hostname(),
    os: typeof os.version === "function" ? os.version() : os.release(),
    platform: typeof os.machine === "function" ? os.machine() : process.arch,
    instanceId: Array.from(id, (b) => b.toString(16).padStart(2, "0")).join(""),
    cpuUsage: () => process.cpuUsage(),
  };
}
