import { notBefore, type PendingRecord } from '../settlement/PendingRecord.js';

/** What a drain visitor decides for one record. */
export type DrainDecision = 'take' | 'skip' | 'stop';

/**
 * The records waiting to be sent to one shard, in put order: a FIFO of first attempts plus a small list of
 * records waiting to be retried, merged by put sequence on the way out so retries never lose their place.
 * Byte and record counts are kept for the flush thresholds.
 */
export class ShardBuffer {
  private fresh: PendingRecord[] = [];
  private head = 0;
  private retrying: PendingRecord[] = [];
  /** Bytes (data plus partition keys) of the records held. */
  bytes = 0;

  constructor(readonly shardId: string) {}

  /** Records held. */
  get length(): number {
    return this.fresh.length - this.head + this.retrying.length;
  }

  /** Adds a record put after everything already here. */
  push(record: PendingRecord): void {
    this.fresh.push(record);
    this.bytes += record.bytes;
  }

  /** Adds a record back for a retry (or after a re-route), at its place in put order. */
  insert(record: PendingRecord): void {
    const list = this.retrying;
    let low = 0;
    let high = list.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((list[mid] as PendingRecord).seq < record.seq) low = mid + 1;
      else high = mid;
    }
    list.splice(low, 0, record);
    this.bytes += record.bytes;
  }

  /**
   * Puts back a record that was taken out (to re-route it, or to check it again): a first attempt goes after
   * everything here, a record already retried to its place in put order.
   */
  putBack(record: PendingRecord): void {
    if (record.retry !== undefined && record.retry.retries > 0) this.insert(record);
    else this.push(record);
  }

  /** The first-attempt record that has waited longest, if any. */
  oldestFresh(): PendingRecord | undefined {
    return this.fresh[this.head];
  }

  /** Whether a record waiting for a retry has finished its backoff. */
  hasDueRetry(now: number): boolean {
    for (const record of this.retrying) if (notBefore(record) <= now) return true;
    return false;
  }

  /**
   * The earliest backoff end still in the future (Infinity if none). Due retries held back by something
   * else are woken by that something; a later backoff end must still wake its record.
   */
  nextRetryAfter(now: number): number {
    let at = Number.POSITIVE_INFINITY;
    for (const record of this.retrying) {
      const due = notBefore(record);
      if (due > now && due < at) at = due;
    }
    return at;
  }

  /** The earliest deadline of any record held (Infinity if none). */
  nextDeadline(): number {
    let at = this.fresh[this.head]?.deadline ?? Number.POSITIVE_INFINITY;
    for (const record of this.retrying) if (record.deadline < at) at = record.deadline;
    return at;
  }

  /** Removes and returns every record whose deadline is at or before `now`. */
  removeExpired(now: number): PendingRecord[] {
    const expired: PendingRecord[] = [];
    // First attempts are in put order and share one TTL, so their deadlines rise: expired ones lead.
    while (this.head < this.fresh.length && (this.fresh[this.head] as PendingRecord).deadline <= now) {
      expired.push(this.fresh[this.head] as PendingRecord);
      this.head += 1;
    }
    if (this.retrying.some((record) => record.deadline <= now)) {
      const kept: PendingRecord[] = [];
      for (const record of this.retrying) (record.deadline <= now ? expired : kept).push(record);
      this.retrying = kept;
    }
    for (const record of expired) this.bytes -= record.bytes;
    this.compact();
    return expired;
  }

  /**
   * Visits records in put order, retries and first attempts merged by sequence, and removes those the
   * visitor takes. Stops at 'stop', at the end, or after `maxVisits` records.
   */
  drain(visit: (record: PendingRecord) => DrainDecision, maxVisits: number): void {
    const fresh = this.fresh;
    const retrying = this.retrying;
    const keptFresh: PendingRecord[] = [];
    const keptRetrying: PendingRecord[] = [];
    let f = this.head;
    let r = 0;
    let visits = 0;
    while (visits < maxVisits && (f < fresh.length || r < retrying.length)) {
      const nextFresh = fresh[f];
      const nextRetry = retrying[r];
      const fromRetry = nextRetry !== undefined && (nextFresh === undefined || nextRetry.seq < nextFresh.seq);
      const record = (fromRetry ? nextRetry : nextFresh) as PendingRecord;
      const decision = visit(record);
      if (decision === 'stop') break;
      visits += 1;
      if (fromRetry) r += 1;
      else f += 1;
      if (decision === 'take') this.bytes -= record.bytes;
      else if (fromRetry) keptRetrying.push(record);
      else keptFresh.push(record);
    }
    if (keptFresh.length === 0) {
      this.head = f;
    } else {
      this.fresh = keptFresh.concat(fresh.slice(f));
      this.head = 0;
    }
    this.retrying = r === 0 ? retrying : keptRetrying.concat(retrying.slice(r));
    this.compact();
  }

  /** Removes and returns everything, in put order (to re-route after a shard map refresh). */
  removeAll(): PendingRecord[] {
    const all = this.fresh.slice(this.head).concat(this.retrying);
    all.sort((a, b) => a.seq - b.seq);
    this.fresh = [];
    this.head = 0;
    this.retrying = [];
    this.bytes = 0;
    return all;
  }

  // Drops the consumed prefix once it dominates, so the array does not grow without bound.
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.fresh.length) {
      this.fresh = this.fresh.slice(this.head);
      this.head = 0;
    }
  }
}
