/**
 * A doubly linked list of job slots, threaded through JobStore.next/prev.
 * A job is in at most one list at a time: its tube's buried list or its
 * reserver's list of reserved jobs. Insertion is at the tail, so iteration
 * from the head is oldest first, as in beanstalkd.
 */
import { type JobStore, NONE } from "./jobs.ts";

export class JobList {
  head = NONE;
  tail = NONE;
  count = 0;

  insert(store: JobStore, slot: number): void {
    store.next[slot] = NONE;
    store.prev[slot] = this.tail;
    if (this.tail === NONE) this.head = slot;
    else store.next[this.tail] = slot;
    this.tail = slot;
    this.count++;
  }

  remove(store: JobStore, slot: number): void {
    const next = store.next[slot]!;
    const prev = store.prev[slot]!;
    if (prev === NONE) this.head = next;
    else store.next[prev] = next;
    if (next === NONE) this.tail = prev;
    else store.prev[next] = prev;
    store.next[slot] = NONE;
    store.prev[slot] = NONE;
    this.count--;
  }
}
