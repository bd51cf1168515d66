/**
 * --watch: restart only the worker of the job file that changed; start a
 * worker for a new file, stop the one of a deleted file.
 */
import { existsSync, watch, type FSWatcher } from "node:fs";
import { basename, extname } from "node:path";
import { listJobFiles, type JobFile } from "./discover.ts";
import type { Logger } from "./log.ts";

export interface WatchTarget {
  has(tube: string): boolean;
  add(file: JobFile): void;
  restart(tube: string): void;
  remove(tube: string): Promise<void>;
}

export function watchJobs(dir: string, target: WatchTarget, log: Logger, debounceMs = 150): { close(): void } {
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const apply = (tube: string): void => {
    const file = listJobFiles(dir).files.find((f) => f.tube === tube);
    if (file && target.has(tube)) {
      log.info(`${file.display} changed`, { tube, event: "watch" });
      target.restart(tube);
    } else if (file) {
      log.info(`${file.display} added`, { tube, event: "watch" });
      target.add(file);
    } else if (target.has(tube)) {
      log.info("job file removed: stopping its worker", { tube, event: "watch" });
      void target.remove(tube);
    }
  };
  const watcher: FSWatcher = watch(dir, (_event, name) => {
    if (!name) return;
    const tube = basename(String(name), extname(String(name)));
    if (!tube || tube.startsWith(".") || tube.startsWith("_")) return;
    const old = timers.get(tube);
    if (old) clearTimeout(old);
    timers.set(
      tube,
      setTimeout(() => {
        timers.delete(tube);
        if (existsSync(dir)) apply(tube);
      }, debounceMs),
    );
  });
  return {
    close: () => {
      watcher.close();
      for (const t of timers.values()) clearTimeout(t);
    },
  };
}
