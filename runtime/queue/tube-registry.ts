/**
 * All tubes of a queue: by name, by registry index (the small number each job
 * stores instead of a reference), and in beanstalkd's list order (`list`, an
 * Ms: a vanished tube's place is taken by the last one, as `list-tubes`
 * shows).
 *
 * Tubes are reference-counted like beanstalkd's: every job in a tube, every
 * connection using it and every watch of it holds a reference; the tube goes
 * when the last one does, and `onVanish` lets the queue forget it too. Freed
 * indexes are reused. The second half keeps a connection's `use` and watch
 * list in step with those references (use, watch, ignore, leaving).
 */

import type { Conn } from "./conn.ts";
import type { JobStore } from "./jobs.ts";
import { Ms } from "./ms.ts";
import { Tube } from "./tube.ts";

export class TubeRegistry {
  /** All tubes, in beanstalkd's order (what list-tubes reports). */
  readonly list = new Ms<Tube>();
  private readonly byName = new Map<string, Tube>();
  private readonly byIndex: (Tube | undefined)[] = [];
  private readonly freeIndexes: number[] = [];

  constructor(
    private readonly store: JobStore,
    private readonly onVanish: (t: Tube) => void,
  ) {}

  find(name: string): Tube | undefined {
    return this.byName.get(name);
  }

  /** The tube with registry index `index` (what JobStore.tube holds). */
  at(index: number): Tube {
    return this.byIndex[index]!;
  }

  /** The tube called `name`, created (with no references) if it does not exist. */
  findOrMake(name: string): Tube {
    let t = this.byName.get(name);
    if (t) return t;
    t = new Tube(name, this.store);
    t.index = this.freeIndexes.length ? this.freeIndexes.pop()! : this.byIndex.length;
    this.byIndex[t.index] = t;
    this.byName.set(name, t);
    this.list.append(t);
    return t;
  }

  ref(t: Tube): void {
    t.refs++;
  }

  unref(t: Tube): void {
    if (--t.refs > 0) return;
    this.list.remove(t);
    this.byName.delete(t.name);
    this.byIndex[t.index] = undefined;
    this.freeIndexes.push(t.index);
    this.onVanish(t);
  }

  // ---- what connections use and watch ----------------------------------------

  /** A new connection's watch list: watching a tube references it. Starts out watching `default`. */
  watchList(initial: Tube): Ms<Tube> {
    const list = new Ms<Tube>(
      (t) => {
        this.ref(t);
        t.watching++;
      },
      (t) => {
        t.watching--;
        this.unref(t);
      },
    );
    list.append(initial);
    return list;
  }

  /** A new connection c starts using c.use (the default tube). */
  enter(c: Conn): void {
    this.ref(c.use);
    c.use.using++;
  }

  use(c: Conn, name: string): void {
    const t = this.findOrMake(name);
    this.ref(t);
    c.use.using--;
    const old = c.use;
    c.use = t;
    t.using++;
    this.unref(old);
  }

  watch(c: Conn, name: string): void {
    const t = this.findOrMake(name);
    this.ref(t);
    if (!c.watch.contains(t)) c.watch.append(t);
    this.unref(t);
  }

  /** false when `name` is the last tube c watches (NOT_IGNORED). */
  ignore(c: Conn, name: string): boolean {
    const t = c.watch.items.find((x) => x.name === name);
    if (t && c.watch.length < 2) return false;
    if (t) c.watch.remove(t);
    return true;
  }

  /** c is gone: it no longer uses or watches anything. */
  leave(c: Conn): void {
    c.watch.clear();
    c.use.using--;
    this.unref(c.use);
  }
}
