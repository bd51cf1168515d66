/**
 * --watch: restart only the workers of the job file that changed; add a
 * tube for a new file, stop the workers of a deleted file.
 */
import { existsSync, type FSWatcher, watch } from "node:fs";
import { basename, extname } from "node:path";
import { type JobFile, listJobFiles } from "./discover.ts";
import type { RunnerEvents } from "./events.ts";

export interface WatchTarget {
  has(tube: string): boolean;
  add(file: JobFile): void;
  restart(tube: string): void;
  remove(tube: string): Promise<void>;
}

export function watchJobs(dir: string, target: WatchTarget, events: RunnerEvents, debounceMs = 150): { close(): void } {
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const apply = (tube: string): void => {
    const file = listJobFiles(dir).files.find((f) => f.tube === tube);
    if (file && target.has(tube)) {
      events.emit({ type: "module.changed", tube, file: file.display, change: "changed" });
      target.restart(tube);
    } else if (file) {
      events.emit({ type: "module.changed", tube, file: file.display, change: "added" });
      target.add(file);
    } else if (target.has(tube)) {
      events.emit({ type: "module.changed", tube, file: tube, change: "removed" });
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
