/**
 * Where the runner puts failure records. With the server in the same
 * process, straight into its store. Under `run --connect`, over the `note`
 * protocol extension to that server; a server that answers UNKNOWN_COMMAND
 * (beanstalkd) cannot keep them, so from then on the runner keeps the last
 * LOCAL_CAP records itself, in memory, and says so once.
 */
import { BeanstalkError, Client } from "../client/index.ts";
import type { FailureRecord } from "./record.ts";
import type { FailureStore } from "./store.ts";

/** Most records the runner keeps itself when the server cannot. */
export const LOCAL_CAP = 10_000;

export interface FailureKeeper {
  keep(id: number, record: FailureRecord): void;
  /** A record the runner kept itself (only when the server cannot keep them). */
  local(id: number): FailureRecord | undefined;
  close(): void;
}

export function storeKeeper(store: FailureStore): FailureKeeper {
  return {
    keep: (id, r) => void store.set(id, JSON.stringify(r)),
    local: () => undefined,
    close: () => {},
  };
}

export function remoteKeeper(server: { host: string; port: number }, say: (msg: string) => void): FailureKeeper {
  const kept = new Map<number, FailureRecord>();
  let serverKeeps = true;
  let client: Promise<Client> | null = null;
  const keepLocally = (id: number, r: FailureRecord): void => {
    kept.delete(id);
    kept.set(id, r);
    if (kept.size > LOCAL_CAP) kept.delete(kept.keys().next().value!);
  };
  const conn = (): Promise<Client> => {
    client ??= Client.connect({ ...server, connectTimeout: 5000 }).then((c) => {
      c.unref();
      c.onClose(() => (client = null));
      return c;
    });
    client.catch(() => (client = null));
    return client;
  };
  return {
    keep(id, r) {
      if (!serverKeeps) return keepLocally(id, r);
      conn()
        .then((c) => c.note(id, JSON.stringify(r)))
        .catch((e: unknown) => {
          if (e instanceof BeanstalkError && e.code === "NOT_FOUND") return; // the job is gone already
          if (e instanceof BeanstalkError && e.code === "UNKNOWN_COMMAND" && serverKeeps) {
            serverKeeps = false;
            say(
              `the server at ${server.host}:${server.port} does not keep failure records (it answered note with UNKNOWN_COMMAND): the runner keeps the last ${LOCAL_CAP} in memory, and they are in the log`,
            );
          }
          keepLocally(id, r);
        });
    },
    local: (id) => kept.get(id),
    close() {
      client?.then((c) => c.close()).catch(() => {});
      client = null;
    },
  };
}
