/**
 * A test file's throwaway PostgreSQL cluster: started before the file's tests
 * (when PostgreSQL is installed and the file needs it), stopped after them,
 * once everything the tests handed to `stopAfter` has stopped. A file of its
 * own because it registers bun:test hooks, which the benchmarks that import
 * cluster.ts must not load.
 */
import { afterAll, beforeAll } from "bun:test";
import { type Cluster, POSTGRES, startCluster } from "./cluster.ts";

export interface FileCluster {
  /** The cluster; inside a test (started by then). */
  readonly cluster: Cluster;
  /** Stops these (servers started on the cluster) after the file's tests, before the cluster. */
  stopAfter(...things: { stop(): Promise<unknown> }[]): void;
}

export function fileCluster(needed = true): FileCluster {
  let cluster: Cluster | undefined;
  const things: { stop(): Promise<unknown> }[] = [];
  beforeAll(async () => {
    if (POSTGRES && needed) cluster = await startCluster();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(things.map((t) => t.stop().catch(() => {})));
    await cluster?.stop();
  });
  return {
    get cluster(): Cluster {
      if (!cluster) throw new Error("no PostgreSQL cluster here (not installed, or used outside a test)");
      return cluster;
    },
    stopAfter: (...more) => void things.push(...more),
  };
}
