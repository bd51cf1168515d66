/**
 * How serve and run stop: the first SIGTERM or SIGINT starts a graceful
 * stop, a later one means "now". The same stop request often arrives twice
 * within milliseconds: Ctrl-C or `kill -- -PGID` signals the whole process
 * group, and a parent that forwards signals (npm, npx, the beanrun launcher)
 * sends it again. So a repeat within REPEAT_MS of the first counts as that
 * same request; only a signal after that forces the exit.
 */
import process from "node:process";

const REPEAT_MS = 1000;

export function waitForStop(force: (signal: string) => void): Promise<string> {
  return new Promise((resolve) => {
    let first = 0;
    const on = (signal: string): void => {
      const now = Date.now();
      if (!first) {
        first = now;
        resolve(signal);
      } else if (now - first > REPEAT_MS) force(signal);
    };
    process.on("SIGTERM", () => on("SIGTERM"));
    process.on("SIGINT", () => on("SIGINT"));
  });
}
