import type { _Record } from '@aws-sdk/client-kinesis';
import { deaggregateWithStats, type HashKeyRange, type UserRecord } from '@shardline/aggregation';

/** What to do with a user record whose hash key is outside its shard's range. */
export type OutOfRangePolicy = 'deliver' | 'drop';

/** Options for {@link Deaggregator}. */
export interface DeaggregatorOptions {
  /** The shard's hash key range; `undefined` when unknown (then nothing is judged). */
  hashKeyRange: HashKeyRange | undefined;
  verifyChecksum: boolean;
  outOfRange: OutOfRangePolicy;
  /** Called once per GetRecords batch that held out-of-range user records. */
  onOutOfRange?: (count: number, delivered: boolean) => void;
}

/**
 * The de-aggregation step of one shard: KPL aggregates become user records (MD5-checked, sub-sequence numbers),
 * and user records outside the shard's hash range are delivered flagged (`outOfRange: true`) or dropped, one
 * by one, and always counted. Delivering is the default because processing is at-least-once anyway: a copy a
 * shard-aware producer re-sent to the right shard after a reshard is one more duplicate, while a record that
 * a producer that is not shard-aware put in a mixed aggregate is data no other shard has.
 */
export class Deaggregator {
  readonly #options: DeaggregatorOptions;
  /** Out-of-range user records seen on this shard, delivered or dropped. */
  outOfRange = 0;

  constructor(options: DeaggregatorOptions) {
    this.#options = options;
  }

  deaggregate(records: readonly _Record[]): UserRecord[] {
    const { hashKeyRange, verifyChecksum, outOfRange } = this.#options;
    const out: UserRecord[] = [];
    let judgedOut = 0;
    for (const record of records) {
      const result = deaggregateWithStats(record, {
        verifyChecksum,
        hashKeyRange,
        outOfRange: outOfRange === 'drop' ? 'drop' : 'flag',
      });
      for (const user of result.records) out.push(user);
      judgedOut += result.outOfRange;
    }
    if (judgedOut > 0) {
      this.outOfRange += judgedOut;
      this.#options.onOutOfRange?.(judgedOut, outOfRange === 'deliver');
    }
    return out;
  }
}
