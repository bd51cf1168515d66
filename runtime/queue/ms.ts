/**
 * An unordered set with beanstalkd's removal and take order.
 *
 * beanstalkd keeps tubes, a connection's watch list and a tube's waiting
 * connections in this structure, and clients can observe its order: removal
 * moves the last item into the hole (so `list-tubes` reorders after a tube
 * vanishes), and `take` walks a cursor so waiting connections are served
 * roughly oldest first. Reproducing it exactly keeps replies byte-identical.
 */
export class Ms<T> {
  items: T[] = [];
  private last = 0;

  constructor(
    private readonly onInsert?: (item: T) => void,
    private readonly onRemove?: (item: T) => void,
  ) {}

  get length(): number {
    return this.items.length;
  }

  append(item: T): void {
    this.items.push(item);
    this.onInsert?.(item);
  }

  private deleteAt(i: number): T {
    const items = this.items;
    const item = items[i]!;
    const tail = items.pop()!;
    if (i < items.length) items[i] = tail;
    this.onRemove?.(item);
    return item;
  }

  remove(item: T): boolean {
    const i = this.items.indexOf(item);
    if (i < 0) return false;
    this.deleteAt(i);
    return true;
  }

  contains(item: T): boolean {
    return this.items.includes(item);
  }

  /** Removes and returns an item, cycling a cursor as beanstalkd's ms_take does. */
  take(): T | undefined {
    const n = this.items.length;
    if (n === 0) return undefined;
    this.last = this.last % n;
    const item = this.deleteAt(this.last);
    this.last++;
    return item;
  }

  /**
   * The cursor move of an `append` followed at once by `take` on an empty
   * set, without touching the items (for a reserve served immediately).
   */
  passThrough(): void {
    this.last = 1;
  }

  clear(): void {
    while (this.items.length) this.deleteAt(0);
    this.last = 0;
  }
}
