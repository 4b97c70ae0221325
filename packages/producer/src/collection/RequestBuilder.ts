import { FRAMING_BYTES, isAggregated, RecordAggregator } from '@shardline/aggregation';
import { DEFAULT_MAX_RECORD_BYTES, LARGEST_MAX_RECORD_BYTES, requestLimitFor } from '../options.js';
import type { ShardBuffer } from '../routing/ShardBuffer.js';
import { notBefore, type PendingRecord } from '../settlement/PendingRecord.js';
import type { ShardLimiter, Take } from './RateLimiter.js';

// Upper bound of what one user record adds to an aggregate besides its data and partition key: protobuf
// tags, lengths and table indexes (see the aggregation package's format). Used to close an aggregate
// before a record could overflow it, so a record never has to be taken back out.
const RECORD_OVERHEAD = 32;
// Bounds the records one fill may look at and pass over (ordered mode, backoff), so a long blocked queue
// cannot make every pass expensive.
const MAX_VISITS = 20_000;

/** One PutRecords entry and the user records it carries, in order (index = sub-sequence number). */
export interface Entry {
  /** The shard the producer predicted; Kinesis may answer another after a reshard. */
  shardId: string;
  partitionKey: string;
  explicitHashKey: string | undefined;
  data: Uint8Array;
  /** Data plus UTF-8 partition key. */
  bytes: number;
  records: PendingRecord[];
  /** Whether `data` is a KPL aggregate (user records get sub-sequence numbers). */
  aggregated: boolean;
  /** The shard's rate allowance it took: to be marked answered when its request is (see `ShardLimiter`). */
  take: Take;
}

/** Settings of a `RequestBuilder`. */
export interface CollectorOptions {
  maxCount: number;
  /** Bytes of a request shared by several entries (`collectionMaxBytes`, capped by the stream's limit). */
  maxBytes: number;
  /**
   * The stream's request limit: a record too large for `maxBytes` goes alone, up to this.
   * @defaultValue the larger of `maxBytes` and the limit that goes with `maxRecordBytes`
   */
  requestLimitBytes?: number | undefined;
  aggregation: boolean;
  aggregationMaxBytes: number;
  aggregationMaxRecords: number;
  maxRecordBytes: number;
  ordered: boolean;
}

/** Why a fill from one shard stopped. */
export type FillStop = 'drained' | 'requestFull' | 'rateLimited';

/** What `fillFrom` needs to know about the world besides the buffer. */
export interface FillContext {
  now: number;
  limiter: ShardLimiter;
  /** Partition keys with records in flight or parked (ordered mode, see KeyGate): their later records wait. */
  busyKeys: { has(key: string): boolean };
  /** Fails a record the aggregator refuses (not expected after validation; never lets it block the rest). */
  reject: (record: PendingRecord, error: unknown) => void;
}

/**
 * Builds one PutRecords request (at most `maxCount` entries and `maxBytes` of data plus partition keys)
 * from shard buffers. Each entry is an aggregate of one shard's records (or a single record), pinned to
 * that shard by its explicit hash key. Rate-limiter allowance is reserved for a whole aggregate before it
 * is started and the unused part handed back when it closes, so no record is ever taken back out.
 */
export class RequestBuilder {
  readonly entries: Entry[] = [];
  bytes = 0;
  userRecords = 0;
  // Ordered mode: keys in this request's closed entries; a later record of such a key must wait for the
  // next request, since two entries of one request can fail independently.
  private readonly closedKeys = new Set<string>();
  private readonly aggregator: RecordAggregator | undefined;
  private readonly single: RecordAggregator;
  // A record with more bytes (plus explicit hash key) than this is sent on its own, not aggregated.
  private readonly aggregatableBytes: number;
  // Set once a record that travels in a request of its own is in: nothing else joins it.
  private sealed = false;
  private readonly requestLimitBytes: number;

  constructor(private readonly options: CollectorOptions) {
    this.aggregator = options.aggregation
      ? new RecordAggregator({
          maxBytes: options.aggregationMaxBytes,
          maxRecords: options.aggregationMaxRecords,
        })
      : undefined;
    // Records too big to aggregate still go through an aggregator, which frames data that would otherwise
    // look like an aggregate to consumers and emits everything else as it is.
    this.requestLimitBytes =
      options.requestLimitBytes ?? Math.max(options.maxBytes, requestLimitFor(options.maxRecordBytes));
    this.aggregatableBytes = options.aggregationMaxBytes - FRAMING_BYTES - 1 - RECORD_OVERHEAD;
    // Never above the aggregation package's own bound (10 MiB): validation refused any record whose framed
    // form would not fit the record limit, so the clamp loses nothing.
    this.single = new RecordAggregator({
      maxBytes: Math.min(LARGEST_MAX_RECORD_BYTES, Math.max(64, options.maxRecordBytes + FRAMING_BYTES + 64)),
    });
  }

  /**
   * Whether a record travels in a request of its own: above 1 MiB (so a stream that refuses it fails that
   * record only, never its neighbours) or above the bytes a shared request may carry.
   */
  goesAlone(bytes: number): boolean {
    return bytes > DEFAULT_MAX_RECORD_BYTES || bytes > this.options.maxBytes;
  }

  /** Whether another entry of `bytes` still fits. */
  private fits(bytes: number): boolean {
    return (
      !this.sealed &&
      this.entries.length < this.options.maxCount &&
      this.bytes + bytes <= this.options.maxBytes
    );
  }

  /** Whether no entry could be added any more. */
  get full(): boolean {
    return !this.fits(this.options.aggregation ? this.options.aggregationMaxBytes : 1);
  }

  /** Moves records from `buffer` into entries until the buffer, the request or the shard's rate runs out. */
  fillFrom(buffer: ShardBuffer, context: FillContext): { stop: FillStop; waitMs: number } {
    const { now, limiter, busyKeys } = context;
    const { ordered, aggregationMaxBytes, aggregationMaxRecords } = this.options;
    const aggregatableBytes = this.aggregatableBytes;
    const aggregator = this.aggregator;
    const blocked = ordered ? new Set<string>() : undefined;
    const openKeys = ordered ? new Set<string>() : undefined;
    let open: PendingRecord[] = [];
    let openTake: Take | undefined;
    let stop: FillStop = 'drained';
    let waitMs = 0;

    const closeOpen = (): void => {
      const aggregate = aggregator?.flush();
      if (aggregate === undefined) return;
      const entryBytes = aggregate.data.length + utf8Bytes(aggregate.partitionKey, open);
      const take = openTake ?? limiter.take(1, aggregationMaxBytes, now);
      limiter.refund(take, aggregationMaxBytes - entryBytes);
      // The reservation made when the aggregate was opened gives way to its real size.
      this.bytes -= aggregationMaxBytes;
      this.push({
        shardId: buffer.shardId,
        partitionKey: aggregate.partitionKey,
        explicitHashKey: aggregate.explicitHashKey,
        data: aggregate.data,
        bytes: entryBytes,
        records: open,
        aggregated: aggregate.count > 1 || aggregate.data !== open[0]?.data,
        take,
      });
      openTake = undefined;
      if (openKeys !== undefined) for (const key of openKeys) this.closedKeys.add(key);
      openKeys?.clear();
      open = [];
    };

    buffer.drain((record) => {
      if (blocked !== undefined && openKeys !== undefined) {
        const key = record.partitionKey;
        if (blocked.has(key) || busyKeys.has(key) || (this.closedKeys.has(key) && !openKeys.has(key))) {
          blocked.add(key);
          return 'skip';
        }
        if (notBefore(record) > now) {
          blocked.add(key);
          return 'skip';
        }
      } else if (notBefore(record) > now) {
        return 'skip';
      }
      const ehkBytes = record.explicitHashKey === undefined ? 0 : record.explicitHashKey.length;
      const tooBigToAggregate = aggregator === undefined || record.bytes + ehkBytes > aggregatableBytes;
      if (tooBigToAggregate) {
        // Ordered mode: a key already in an open aggregate must not also travel in a separate entry.
        if (openKeys?.has(record.partitionKey)) {
          blocked?.add(record.partitionKey);
          return 'skip';
        }
        const alone = this.goesAlone(record.bytes);
        if (alone) {
          // A large record waits for a request of its own (the next one it leads) and holds nothing up: the
          // records behind it keep filling this one. Ordered mode keeps its key's later records behind it.
          if (this.sealed || this.entries.length > 0 || open.length > 0) {
            blocked?.add(record.partitionKey);
            return 'skip';
          }
          if (record.bytes > this.requestLimitBytes) {
            // Validation makes this unreachable; fail the record rather than let it block its shard.
            context.reject(
              record,
              new Error(
                `record of ${record.bytes} bytes is above the request limit ${this.requestLimitBytes}`,
              ),
            );
            return 'take';
          }
        } else if (!this.fits(record.bytes)) {
          stop = 'requestFull';
          return 'stop';
        }
        const take = limiter.tryTake(1, record.bytes, now);
        if (take === undefined) {
          stop = 'rateLimited';
          waitMs = limiter.waitMs(1, record.bytes, now);
          return 'stop';
        }
        this.pushSingle(buffer.shardId, record, take);
        if (alone) this.sealed = true; // nothing joins a request a large record leads
        return 'take';
      }
      // Close the open aggregate first if this record might not fit in it.
      if (open.length > 0) {
        const current =
          aggregator.count === 1 ? aggregator.size + FRAMING_BYTES + 1 + RECORD_OVERHEAD : aggregator.size;
        const growth = record.bytes + ehkBytes + RECORD_OVERHEAD;
        if (current + growth > aggregationMaxBytes || aggregator.count >= aggregationMaxRecords) {
          closeOpen();
          if (this.closedKeys.has(record.partitionKey) && ordered) {
            blocked?.add(record.partitionKey);
            return 'skip';
          }
        }
      }
      if (open.length === 0) {
        if (!this.fits(aggregationMaxBytes)) {
          stop = 'requestFull';
          return 'stop';
        }
        openTake = limiter.tryTake(1, aggregationMaxBytes, now);
        if (openTake === undefined) {
          stop = 'rateLimited';
          waitMs = limiter.waitMs(1, aggregationMaxBytes, now);
          return 'stop';
        }
        // Reserve the request bytes too, so entries added meanwhile cannot overrun the request.
        this.bytes += aggregationMaxBytes;
      }
      let completed: ReturnType<RecordAggregator['add']>;
      try {
        completed = aggregator.add(record);
      } catch (error) {
        if (open.length === 0) {
          this.bytes -= aggregationMaxBytes;
          if (openTake !== undefined) limiter.cancel(openTake);
          openTake = undefined;
        }
        context.reject(record, error);
        return 'take';
      }
      if (completed !== undefined) {
        // Not expected (the check above is conservative); keep the accounting right anyway.
        const previous = open;
        open = [record];
        this.bytes -= aggregationMaxBytes;
        const entryBytes = completed.data.length + utf8Bytes(completed.partitionKey, previous);
        const take = openTake ?? limiter.take(1, aggregationMaxBytes, now);
        limiter.refund(take, aggregationMaxBytes - entryBytes);
        // The new aggregate must go on: it takes its allowance whether or not there is room.
        openTake = limiter.take(1, aggregationMaxBytes, now);
        this.push({
          shardId: buffer.shardId,
          partitionKey: completed.partitionKey,
          explicitHashKey: completed.explicitHashKey,
          data: completed.data,
          bytes: entryBytes,
          records: previous,
          aggregated: completed.count > 1,
          take,
        });
        this.bytes += aggregationMaxBytes;
      } else {
        open.push(record);
      }
      openKeys?.add(record.partitionKey);
      return 'take';
    }, MAX_VISITS);
    if (open.length > 0) closeOpen();
    return { stop, waitMs };
  }

  private pushSingle(shardId: string, record: PendingRecord, take: Take): void {
    let data = record.data;
    let partitionKey = record.partitionKey;
    let explicitHashKey = record.explicitHashKey;
    let aggregated = false;
    if (this.options.aggregation && isAggregated(data)) {
      // Framed so a consumer does not mistake the user's bytes for an aggregate. Validation made sure the
      // framed record fits.
      this.single.add(record);
      const framed = this.single.flush();
      if (framed !== undefined) {
        data = framed.data;
        partitionKey = framed.partitionKey;
        explicitHashKey = framed.explicitHashKey;
        aggregated = true;
      }
    }
    const bytes = data === record.data ? record.bytes : data.length + Buffer.byteLength(partitionKey);
    this.push({ shardId, partitionKey, explicitHashKey, data, bytes, records: [record], aggregated, take });
    if (this.options.ordered) this.closedKeys.add(record.partitionKey);
  }

  private push(entry: Entry): void {
    this.entries.push(entry);
    this.bytes += entry.bytes;
    this.userRecords += entry.records.length;
  }
}

// The entry's partition key bytes: "a" for an aggregate, the record's own key when emitted raw.
function utf8Bytes(partitionKey: string, records: PendingRecord[]): number {
  const first = records[0];
  if (records.length === 1 && first !== undefined && first.partitionKey === partitionKey) {
    return first.bytes - first.data.length;
  }
  return Buffer.byteLength(partitionKey);
}
