import {
  InvalidHashKeyError,
  InvalidOptionsError,
  InvalidRecordError,
  RecordTooLargeError,
} from './errors.js';
import * as format from './format.js';
import { hashKeyToDecimal, isValidExplicitHashKey, partitionKeyHash } from './hashKey.js';
import { KeyIndex } from './keyIndex.js';
import type { AggregatedRecord, RecordAggregatorOptions, UserRecordInput } from './types.js';

// Bound once: transpiling loaders (tsx, vitest) turn imported bindings into getters, which cost about 8% of
// the per-record path when called through the import.
const {
  delimitedFieldSize,
  encodeAggregate,
  EXPLICIT_HASH_KEY_TABLE_TAG,
  FRAMING_BYTES,
  isAggregated,
  KeyTableBuilder,
  PARTITION_KEY_TABLE_TAG,
  recordBodySize,
  varintSize,
} = format;

/** Partition key of every aggregate: the KPL's choice. One byte, and routing is by the explicit hash key. */
export const AGGREGATE_PARTITION_KEY = 'a';
const AGGREGATE_PARTITION_KEY_BYTES = 1;
/** Default `maxBytes`: the Kinesis record limit. */
export const DEFAULT_MAX_BYTES = 1_048_576;
/** Default `maxRecords`: the KPL's AggregationMaxCount default. */
export const DEFAULT_MAX_RECORDS = 4_294_967_295;
const MIN_MAX_BYTES = 64;
const MAX_MAX_BYTES = 10_485_760;
const NO_DATA = new Uint8Array(0);
/** Digits of 2^128 - 1. */
const MAX_EXPLICIT_HASH_KEY_LENGTH = 39;
/** Kinesis partition keys are 1 to 256 characters. */
export const MAX_PARTITION_KEY_LENGTH = 256;

/**
 * Packs user records into KPL aggregated records, each at most `maxBytes` counted as Kinesis counts them
 * (data plus UTF-8 partition key). All records given to one aggregator end up on the shard of each
 * aggregate's first record, so feed it only records of one shard (shard-aware aggregation).
 *
 * Not thread-safe in spirit: one producer loop per aggregator.
 */
export class RecordAggregator {
  /** The bound every produced record respects, in bytes. */
  readonly maxBytes: number;
  /** The bound on user records per aggregate. */
  readonly maxRecords: number;
  /** Whether a lone pending user record is emitted as itself. */
  readonly emitSingleRecordRaw: boolean;

  // Key tables, de-duplicated and kept serialized, with an index of their keys. All reused from one aggregate
  // to the next (bounded by the largest table, itself under maxBytes).
  private readonly partitionKeyTable = new KeyTableBuilder(PARTITION_KEY_TABLE_TAG);
  private readonly explicitHashKeyTable = new KeyTableBuilder(EXPLICIT_HASH_KEY_TABLE_TAG);
  private readonly partitionKeyIndex = new KeyIndex();
  private readonly explicitHashKeyIndex = new KeyIndex();
  // Per pending user record, the first `pending` entries. Kept from one aggregate to the next (their size
  // bounded by the most records an aggregate held) so that filling one allocates nothing per record.
  private partitionKeyIndexes = new Int32Array(256);
  private explicitHashKeyIndexes = new Int32Array(256);
  private recordBodySizes = new Int32Array(256);
  private readonly data: Uint8Array[] = [];
  private pending = 0;
  private bodyBytes = 0;
  // The first pending record, for a raw emission and the aggregate's explicit hash key.
  private firstPartitionKey = '';
  private firstPartitionKeyBytes = 0;
  private firstExplicitHashKey: string | undefined;

  constructor(options: RecordAggregatorOptions = {}) {
    const {
      maxBytes = DEFAULT_MAX_BYTES,
      maxRecords = DEFAULT_MAX_RECORDS,
      emitSingleRecordRaw = true,
    } = options;
    if (!Number.isInteger(maxBytes) || maxBytes < MIN_MAX_BYTES || maxBytes > MAX_MAX_BYTES) {
      throw new InvalidOptionsError(`maxBytes must be an integer in ${MIN_MAX_BYTES}..${MAX_MAX_BYTES}`);
    }
    if (!Number.isInteger(maxRecords) || maxRecords < 1) {
      throw new InvalidOptionsError('maxRecords must be an integer of at least 1');
    }
    this.maxBytes = maxBytes;
    this.maxRecords = maxRecords;
    this.emitSingleRecordRaw = emitSingleRecordRaw;
  }

  /** How many user records are pending. */
  get count(): number {
    return this.pending;
  }

  /** Bytes (data plus partition key) of the Kinesis record `flush()` would return now; 0 when empty. */
  get size(): number {
    if (this.pending === 0) return 0;
    if (this.pending === 1 && this.emitsRaw())
      return (this.data[0] as Uint8Array).length + this.firstPartitionKeyBytes;
    return FRAMING_BYTES + this.bodyBytes + AGGREGATE_PARTITION_KEY_BYTES;
  }

  /**
   * Adds a user record. Returns the completed aggregate when the record did not fit (the record then starts
   * the next aggregate), else `undefined`.
   * @throws RecordTooLargeError if the record cannot fit in a Kinesis record even alone; nothing changes.
   * @throws InvalidRecordError / InvalidHashKeyError on a malformed record; nothing changes.
   */
  add(record: UserRecordInput): AggregatedRecord | undefined {
    const data = validRecordData(record);
    const { partitionKey, explicitHashKey } = record;
    // Each key is staged (serialized past its table's end, and hashed) now, and committed only if it is new
    // and the record fits.
    const partitionKeyTable = this.partitionKeyTable;
    const pkBytes = partitionKeyTable.stage(partitionKey);
    const pkIndex = this.partitionKeyIndex.find(partitionKey, partitionKeyTable.stagedHash);
    let growth = pkIndex < 0 ? partitionKeyTable.stagedFieldBytes : 0;
    let ehkIndex = -1;
    if (explicitHashKey !== undefined) {
      // Bounded before staging, so a hostile key cannot grow the table buffer; fully checked below if new.
      if (explicitHashKey.length > MAX_EXPLICIT_HASH_KEY_LENGTH) {
        throw new InvalidHashKeyError('explicitHashKey must be a decimal integer in 0..2^128-1');
      }
      this.explicitHashKeyTable.stage(explicitHashKey);
      ehkIndex = this.explicitHashKeyIndex.find(explicitHashKey, this.explicitHashKeyTable.stagedHash);
      if (ehkIndex < 0) {
        if (!isValidExplicitHashKey(explicitHashKey)) {
          throw new InvalidHashKeyError('explicitHashKey must be a decimal integer in 0..2^128-1');
        }
        growth += this.explicitHashKeyTable.stagedFieldBytes;
      }
    }

    const pending = this.pending;
    if (pending > 0 && pending < this.maxRecords) {
      const body = recordBodySize(
        pkIndex < 0 ? this.partitionKeyIndex.size : pkIndex,
        explicitHashKey === undefined ? -1 : ehkIndex < 0 ? this.explicitHashKeyIndex.size : ehkIndex,
        data.length,
      );
      growth += 1 + varintSize(body) + body;
      if (FRAMING_BYTES + this.bodyBytes + growth + AGGREGATE_PARTITION_KEY_BYTES <= this.maxBytes) {
        this.append(partitionKey, pkIndex, explicitHashKey, ehkIndex, data, body, growth);
        return undefined;
      }
    }

    // The record starts a new aggregate: check it fits alone before touching what is pending.
    const aloneBody = recordBodySize(0, explicitHashKey === undefined ? -1 : 0, data.length);
    const alone =
      FRAMING_BYTES +
      AGGREGATE_PARTITION_KEY_BYTES +
      delimitedFieldSize(pkBytes) +
      (explicitHashKey === undefined ? 0 : delimitedFieldSize(explicitHashKey.length)) +
      delimitedFieldSize(aloneBody);
    const raw = data.length + pkBytes;
    const rawAllowed = this.emitSingleRecordRaw && !isAggregated(data);
    if (alone > this.maxBytes && !(rawAllowed && raw <= this.maxBytes)) {
      throw new RecordTooLargeError(rawAllowed ? raw : alone, this.maxBytes);
    }
    const completed = this.flush();
    // The tables are empty now: stage the keys again, at their start.
    partitionKeyTable.stage(partitionKey);
    if (explicitHashKey !== undefined) this.explicitHashKeyTable.stage(explicitHashKey);
    this.firstPartitionKey = partitionKey;
    this.firstPartitionKeyBytes = pkBytes;
    this.firstExplicitHashKey = explicitHashKey;
    this.append(
      partitionKey,
      -1,
      explicitHashKey,
      -1,
      data,
      aloneBody,
      alone - FRAMING_BYTES - AGGREGATE_PARTITION_KEY_BYTES,
    );
    return completed;
  }

  /** Returns the pending aggregate (or the lone pending record, raw) and starts empty; `undefined` if empty. */
  flush(): AggregatedRecord | undefined {
    if (this.pending === 0) return undefined;
    let result: AggregatedRecord;
    if (this.pending === 1 && this.emitsRaw()) {
      result = { partitionKey: this.firstPartitionKey, data: this.data[0] as Uint8Array, count: 1 };
      if (this.firstExplicitHashKey !== undefined) result.explicitHashKey = this.firstExplicitHashKey;
    } else {
      const data = encodeAggregate({
        partitionKeyTable: this.partitionKeyTable,
        explicitHashKeyTable: this.explicitHashKeyTable,
        partitionKeyIndexes: this.partitionKeyIndexes,
        explicitHashKeyIndexes: this.explicitHashKeyIndexes,
        recordBodySizes: this.recordBodySizes,
        data: this.data,
        count: this.pending,
        bodyBytes: this.bodyBytes,
      });
      const explicitHashKey =
        this.firstExplicitHashKey ?? hashKeyToDecimal(partitionKeyHash(this.firstPartitionKey));
      result = { partitionKey: AGGREGATE_PARTITION_KEY, explicitHashKey, data, count: this.pending };
    }
    this.reset();
    return result;
  }

  private emitsRaw(): boolean {
    return this.emitSingleRecordRaw && !isAggregated(this.data[0] as Uint8Array);
  }

  /** Appends a record that fits; a key index of -1 means the staged key is new (and is committed). */
  private append(
    partitionKey: string,
    pkIndex: number,
    explicitHashKey: string | undefined,
    ehkIndex: number,
    data: Uint8Array,
    bodySize: number,
    growth: number,
  ): void {
    let pk = pkIndex;
    if (pk < 0) {
      pk = this.partitionKeyIndex.insert(partitionKey, this.partitionKeyTable.stagedHash);
      this.partitionKeyTable.commit();
    }
    let ehk = ehkIndex;
    if (explicitHashKey !== undefined && ehk < 0) {
      ehk = this.explicitHashKeyIndex.insert(explicitHashKey, this.explicitHashKeyTable.stagedHash);
      this.explicitHashKeyTable.commit();
    }
    const at = this.pending;
    if (at === this.partitionKeyIndexes.length) this.grow();
    this.partitionKeyIndexes[at] = pk;
    this.explicitHashKeyIndexes[at] = ehk;
    this.recordBodySizes[at] = bodySize;
    this.data[at] = data;
    this.pending = at + 1;
    this.bodyBytes += growth;
  }

  private grow(): void {
    const size = this.partitionKeyIndexes.length * 2;
    const pks = new Int32Array(size);
    pks.set(this.partitionKeyIndexes);
    this.partitionKeyIndexes = pks;
    const ehks = new Int32Array(size);
    ehks.set(this.explicitHashKeyIndexes);
    this.explicitHashKeyIndexes = ehks;
    const bodies = new Int32Array(size);
    bodies.set(this.recordBodySizes);
    this.recordBodySizes = bodies;
  }

  private reset(): void {
    this.partitionKeyTable.reset();
    this.explicitHashKeyTable.reset();
    this.partitionKeyIndex.clear();
    this.explicitHashKeyIndex.clear();
    // Drop the references to user data (the slots stay for the next aggregate).
    this.data.fill(NO_DATA, 0, this.pending);
    this.pending = 0;
    this.bodyBytes = 0;
    this.firstPartitionKey = '';
    this.firstPartitionKeyBytes = 0;
    this.firstExplicitHashKey = undefined;
  }
}

/** Checks a record's fields and returns its data as bytes (a string is UTF-8 encoded). */
function validRecordData(record: UserRecordInput): Uint8Array {
  if (typeof record !== 'object' || record === null) throw new InvalidRecordError('record must be an object');
  const { partitionKey, explicitHashKey, data } = record;
  if (
    typeof partitionKey !== 'string' ||
    partitionKey.length < 1 ||
    partitionKey.length > MAX_PARTITION_KEY_LENGTH
  ) {
    throw new InvalidRecordError(
      `partitionKey must be a string of 1 to ${MAX_PARTITION_KEY_LENGTH} characters`,
    );
  }
  if (explicitHashKey !== undefined && typeof explicitHashKey !== 'string') {
    throw new InvalidRecordError('explicitHashKey must be a string');
  }
  if (data instanceof Uint8Array) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  throw new InvalidRecordError('data must be a Uint8Array or a string');
}

/** UTF-8 byte length of `text` as Buffer and TextEncoder write it (a lone surrogate becomes 3 bytes). */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) {
      bytes += 1;
    } else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      // A surrogate pair: 2 UTF-16 units, 4 bytes.
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2;
        i++;
      } else {
        bytes += 2;
      }
    } else {
      bytes += 2;
    }
  }
  return bytes;
}
