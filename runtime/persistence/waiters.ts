/**
 * Replies waiting for their records to be durable: `add(seq, fn)` runs fn
 * once everything up to record `seq` is durable. Sequence numbers only grow
 * and waiters are added in order, so the waiting list is a FIFO consumed
 * from its head (no sorting, no per-waiter object).
 */
export class DurabilityWaiters {
  private readonly seqs: number[] = [];
  private readonly fns: (() => void)[] = [];
  private head = 0;

  get pending(): number {
    return this.seqs.length - this.head;
  }

  add(seq: number, fn: () => void): void {
    this.seqs.push(seq);
    this.fns.push(fn);
  }

  /** Runs, in order, every waiter whose record is at or below `durable`. */
  wake(durable: number): void {
    const seqs = this.seqs;
    const fns = this.fns;
    while (this.head < seqs.length && seqs[this.head]! <= durable) {
      const fn = fns[this.head]!;
      this.head++;
      fn();
    }
    if (this.head === seqs.length) {
      seqs.length = 0;
      fns.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      seqs.splice(0, this.head);
      fns.splice(0, this.head);
      this.head = 0;
    }
  }
}
