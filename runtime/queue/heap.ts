/**
 * A binary min-heap that tells each item its position, so any item can be
 * removed or re-keyed in O(log n). Ready jobs (by priority, id), delayed jobs
 * (by deadline, id) and connections (by next timeout) each live in one.
 */
export class Heap<T> {
  readonly items: T[] = [];

  constructor(
    private readonly less: (a: T, b: T) => boolean,
    private readonly setPos: (item: T, pos: number) => void,
  ) {}

  get length(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    this.up(items.length - 1, item);
  }

  /** Removes the item at position `pos` (as last reported through setPos). */
  removeAt(pos: number): T {
    const items = this.items;
    const item = items[pos]!;
    const tail = items.pop()!;
    if (pos < items.length) {
      items[pos] = tail;
      this.setPos(tail, pos);
      if (pos > 0 && this.less(tail, items[(pos - 1) >> 1]!)) this.up(pos, tail);
      else this.down(pos, tail);
    }
    this.setPos(item, -1);
    return item;
  }

  pop(): T | undefined {
    return this.items.length ? this.removeAt(0) : undefined;
  }

  /** Restores heap order after the key of the item at `pos` changed. */
  update(pos: number): void {
    const item = this.items[pos]!;
    if (pos > 0 && this.less(item, this.items[(pos - 1) >> 1]!)) this.up(pos, item);
    else this.down(pos, item);
  }

  private up(pos: number, item: T): void {
    const items = this.items;
    while (pos > 0) {
      const parentPos = (pos - 1) >> 1;
      const parent = items[parentPos]!;
      if (!this.less(item, parent)) break;
      items[pos] = parent;
      this.setPos(parent, pos);
      pos = parentPos;
    }
    items[pos] = item;
    this.setPos(item, pos);
  }

  private down(pos: number, item: T): void {
    const items = this.items;
    const n = items.length;
    for (;;) {
      const l = 2 * pos + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      let child = items[l]!;
      if (r < n && this.less(items[r]!, child)) {
        c = r;
        child = items[r]!;
      }
      if (!this.less(child, item)) break;
      items[pos] = child;
      this.setPos(child, pos);
      pos = c;
    }
    items[pos] = item;
    this.setPos(item, pos);
  }
}
