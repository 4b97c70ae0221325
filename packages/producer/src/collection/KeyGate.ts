import type { PendingRecord } from '../settlement/PendingRecord.js';

/**
 * Ordered mode's gate: how many records of each partition key are in flight or parked. While a key has any,
 * its later records wait in their buffer (the request builder asks `has`), so a retry can never overtake them.
 * Every count change is here: `enter` when a request is sent, `leave` when its answer (or a parked record's
 * fate) is known. Without `ordered` the gate is always open and counts nothing.
 */
export class KeyGate {
  private readonly busy = new Map<string, number>();

  constructor(private readonly ordered: boolean) {}

  /** Whether records of `key` are in flight or parked (their successors must wait). */
  has(key: string): boolean {
    return this.busy.has(key);
  }

  /** A record goes out in a request. */
  enter(record: PendingRecord): void {
    if (!this.ordered) return;
    this.busy.set(record.partitionKey, (this.busy.get(record.partitionKey) ?? 0) + 1);
  }

  /** A request's answer is handled: its records leave, except those parked (they leave when unparked). */
  leaveAnswered(records: readonly PendingRecord[]): void {
    if (!this.ordered) return;
    for (const record of records) if (!record.parked) this.leave(record);
  }

  /** A record is no longer in flight or parked. */
  leave(record: PendingRecord): void {
    if (!this.ordered) return;
    const key = record.partitionKey;
    const count = (this.busy.get(key) ?? 0) - 1;
    if (count > 0) this.busy.set(key, count);
    else this.busy.delete(key);
  }
}
