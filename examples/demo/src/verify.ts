/**
 * The demo's end-of-run check, kept pure so it is unit-tested on its own: every produced record consumed,
 * per-partition-key order, and duplicates explained.
 */

/** One record the producer put: a unique id, its partition key and its position among that key's records. */
export interface Produced {
  id: string;
  key: string;
  /** 0, 1, 2, ... per partition key, in put order. */
  ordinal: number;
}

/** One delivery of a record to a worker's processor. */
export interface Delivery {
  id: string;
  key: string;
  ordinal: number;
  shardId: string;
  workerId: string;
  /** process.hrtime.bigint() at delivery: CLOCK_MONOTONIC, comparable across processes on one machine. */
  at: bigint;
  /** Delivered from a shard that does not own its hash key (the consumer flags it `outOfRange`). */
  outOfRange?: boolean;
  /** The Kinesis record (and user record inside it) it came from: tells a second copy in the stream apart. */
  sequenceNumber?: string;
  subSequenceNumber?: number;
}

export interface Verification {
  ok: boolean;
  produced: number;
  consumed: number;
  missing: string[];
  unexpected: string[];
  duplicates: number;
  /** Keys whose records were first delivered out of order, with the first offending ordinal. */
  orderViolations: Array<{ key: string; expected: number; got: number }>;
  /**
   * Duplicates of which one copy came from a shard that does not own the record's hash key: a member of an
   * aggregate caught by a reshard, which the producer re-sent to its owner and the consumer also delivered
   * (flagged `outOfRange`) where it first landed. Not counted in {@link duplicatesByWorkers}.
   */
  duplicatesOutOfRange: number;
  /**
   * Duplicates that were two copies in the stream (another sequence number, both in their shard's range): the
   * producer retried a PutRecords whose answer it did not get (a timeout under load) although the write had
   * landed. Not counted in {@link duplicatesByWorkers}.
   */
  duplicatesInStream: number;
  /** Duplicates per shard: where the re-deliveries happened. */
  duplicatesByShard: Record<string, number>;
  /**
   * Duplicates by `firstWorker->againWorker`: who processed a record first and who got it again. A record
   * first processed by a worker that crashed, then by another, was past that worker's last checkpoint.
   */
  duplicatesByWorkers: Record<string, number>;
}

/**
 * A key's order holds when each record is first delivered only after every earlier record of that key was.
 * Re-deliveries (after a crash, records since the last checkpoint come again) are duplicates, not order
 * violations, as long as nothing new was seen out of turn.
 */
export function verify(produced: readonly Produced[], deliveries: readonly Delivery[]): Verification {
  const byId = new Map(produced.map((p) => [p.id, p]));
  const sorted = [...deliveries].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const seen = new Map<string, Delivery>(); // id -> its first delivery
  const nextOrdinal = new Map<string, number>();
  const unexpected: string[] = [];
  const orderViolations: Verification['orderViolations'] = [];
  const violatedKeys = new Set<string>();
  const duplicatesByShard: Record<string, number> = {};
  const duplicatesByWorkers: Record<string, number> = {};
  let duplicates = 0;
  let duplicatesOutOfRange = 0;
  let duplicatesInStream = 0;

  for (const delivery of sorted) {
    if (!byId.has(delivery.id)) {
      unexpected.push(delivery.id);
      continue;
    }
    const first = seen.get(delivery.id);
    if (first !== undefined) {
      duplicates += 1;
      duplicatesByShard[delivery.shardId] = (duplicatesByShard[delivery.shardId] ?? 0) + 1;
      if (first.outOfRange === true || delivery.outOfRange === true) {
        duplicatesOutOfRange += 1;
        continue;
      }
      if (
        first.sequenceNumber !== undefined &&
        delivery.sequenceNumber !== undefined &&
        (first.sequenceNumber !== delivery.sequenceNumber ||
          first.subSequenceNumber !== delivery.subSequenceNumber)
      ) {
        duplicatesInStream += 1;
        continue;
      }
      const pair = `${first.workerId}->${delivery.workerId}`;
      duplicatesByWorkers[pair] = (duplicatesByWorkers[pair] ?? 0) + 1;
      continue;
    }
    seen.set(delivery.id, delivery);
    const expected = nextOrdinal.get(delivery.key) ?? 0;
    if (delivery.ordinal !== expected && !violatedKeys.has(delivery.key)) {
      violatedKeys.add(delivery.key);
      orderViolations.push({ key: delivery.key, expected, got: delivery.ordinal });
    }
    nextOrdinal.set(delivery.key, Math.max(expected, delivery.ordinal + 1));
  }
  const missing = produced.filter((p) => !seen.has(p.id)).map((p) => p.id);
  return {
    ok: missing.length === 0 && unexpected.length === 0 && orderViolations.length === 0,
    produced: produced.length,
    consumed: seen.size,
    missing,
    unexpected,
    duplicates,
    duplicatesOutOfRange,
    duplicatesInStream,
    orderViolations,
    duplicatesByShard,
    duplicatesByWorkers,
  };
}
