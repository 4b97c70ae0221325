import {
  DescribeStreamSummaryCommand,
  type KinesisClient,
  ListShardsCommand,
  type ListShardsCommandInput,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { type ClassifiedError, classifyError } from '../errors.js';
import { DEFAULT_MAX_RECORD_BYTES, LARGEST_MAX_RECORD_BYTES } from '../options.js';
import { delayBeforeDeadline, GrowingBackoff, sleep } from '../retry.js';
import type { ShardRange } from '../types.js';

const MAX_HASH_KEY = (1n << 128n) - 1n;
// Bounds one listing: 1,000 pages of up to 1,000 shards is far beyond any stream's shard limit.
const MAX_PAGES = 1_000;

/** Settings of a `ShardMap`. */
export interface ShardMapOptions {
  client: KinesisClient;
  streamName: string | undefined;
  streamARN: string | undefined;
  minDelayMs: number;
  maxDelayMs: number;
  requestTimeoutMs: number;
  /**
   * Learn the stream's maximum record size from DescribeStreamSummary before the first listing (false when
   * the caller set `maxRecordBytes` itself).
   */
  describeStream?: boolean | undefined;
  /**
   * Told of every failed try of a listing at once (the retries of one refresh can last a record's TTL; the
   * operator should not learn of an unreachable endpoint only at the end).
   */
  onTryFailed?: ((error: ClassifiedError) => void) | undefined;
}

/**
 * What a listing asks for. `'open'`: only the open shards (ShardFilter AT_LATEST): one page per 1,000 open
 * shards however long the stream's history, enough to route. `'all'`: every shard within retention (the
 * default filter, FROM_TRIM_HORIZON), for the closed shards' ranges too, which judging records stored on a
 * shard that has split since needs.
 */
export type ListingScope = 'open' | 'all';

/** What DescribeStreamSummary told about the stream's record size. */
export interface StreamLimits {
  /** Data plus partition key of one record, in bytes. */
  maxRecordBytes: number;
  /** Why the default was assumed: the call's error code, or undefined when the stream reported its limit. */
  assumedBecause: string | undefined;
}

const KiB = 1024;

/** Thrown by `ShardMap.refresh` when ListShards failed in a way that retrying will not fix, or in time. */
export class ShardMapError extends Error {
  /** The failure as the classifier saw it (`configuration` for a client that cannot reach Kinesis). */
  readonly classified: ClassifiedError;

  constructor(classified: ClassifiedError, cause: unknown) {
    super(classified.message, { cause });
    this.name = 'ShardMapError';
    this.classified = { ...classified, cause };
  }

  get serviceCode(): string {
    return this.classified.code;
  }

  get retriable(): boolean {
    return this.classified.retriable;
  }
}

/**
 * The stream's open shards sorted by hash range, from ListShards (paginated), with a binary-search lookup
 * from hash key to shard. The listing also keeps the ranges of the closed shards still within retention:
 * a record stored on a shard that has split since is judged by that shard's own range (see `ShardRouter`).
 * Refreshes are coalesced (one ListShards listing at a time) and retried with growing backoff (x1.5 from
 * `minDelayMs` to `maxDelayMs`, as the KPL).
 */
export class ShardMap {
  private ranges: ShardRange[] = [];
  private starts: bigint[] = [];
  // The same bounds as four 32-bit words each, most significant first (shard i at [4i, 4i + 4)), for
  // `lookupWords`: routing a record then needs no BigInt.
  private startWords: Uint32Array = new Uint32Array(0);
  private endWords: Uint32Array = new Uint32Array(0);
  // Every shard of the last listing, open or closed (bounded by what Kinesis keeps within retention), and
  // the shards open at the listing before (a record may have been stored on one of them since).
  private listed = new Map<string, ShardRange>();
  private pending: Promise<void> | undefined;
  private readonly backoff: GrowingBackoff;
  private readonly abort = new AbortController();
  /** Increments on every successful refresh; lets callers tell answers to an older map apart. */
  version = 0;
  /** The stream's record size limit, once known (before the first map is ready when `describeStream`). */
  limits: StreamLimits | undefined;
  /**
   * After a failed refresh, when the next listing may start (epoch ms; 0 after a success): the growing
   * backoff also spaces refreshes apart, not only the tries inside one, so callers that ask again at once
   * cannot call ListShards in a loop.
   */
  retryAt = 0;
  /** When the last listing succeeded (epoch ms; 0 before the first). */
  listedAt = 0;
  // Whether Kinesis has answered any call of this map: before that, some failures mean the client cannot
  // reach it at all (see `ClassifyContext.firstContact`).
  private answered = false;

  constructor(private readonly options: ShardMapOptions) {
    this.backoff = new GrowingBackoff(options.minDelayMs, options.maxDelayMs);
  }

  /** Whether a map has been loaded at least once. */
  get ready(): boolean {
    return this.version > 0;
  }

  /** The open shards, sorted by starting hash key. */
  get shards(): readonly ShardRange[] {
    return this.ranges;
  }

  /** The open shard whose range holds `hashKey`; `undefined` before the first load or in a gap. */
  lookup(hashKey: bigint): ShardRange | undefined {
    const starts = this.starts;
    let low = 0;
    let high = starts.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if ((starts[mid] as bigint) <= hashKey) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    const range = found < 0 ? undefined : this.ranges[found];
    return range !== undefined && hashKey <= range.endingHashKey ? range : undefined;
  }

  /**
   * {@link lookup} for a hash key given as four unsigned 32-bit words, most significant first (as
   * `partitionKeyHashWords` writes them); same answer, without a BigInt per record.
   */
  lookupWords(key: Uint32Array): ShardRange | undefined {
    const starts = this.startWords;
    let low = 0;
    let high = this.ranges.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (compareWords(starts, mid << 2, key) <= 0) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    const range = found < 0 ? undefined : this.ranges[found];
    return range !== undefined && compareWords(this.endWords, found << 2, key) >= 0 ? range : undefined;
  }

  /**
   * The hash range of a shard of the last listing, open or closed; `undefined` for a shard it did not list
   * (unknown yet, or past retention).
   */
  rangeOf(shardId: string): ShardRange | undefined {
    return this.listed.get(shardId);
  }

  /**
   * Loads the map again. Concurrent calls share one listing. Retriable failures (throttling, 5xx, timeouts)
   * are retried with backoff until `deadline` (epoch ms); then, or at once for a non-retriable failure
   * (AccessDenied, ResourceNotFound, no credentials), the promise rejects with `ShardMapError`. Every failed
   * try is reported to `onTryFailed` as it happens.
   */
  refresh(deadline: number, scope: ListingScope = 'open'): Promise<void> {
    if (this.pending === undefined) {
      this.pending = this.load(deadline, scope).finally(() => {
        this.pending = undefined;
      });
    }
    return this.pending;
  }

  /** Cancels a refresh waiting out its backoff. */
  stop(): void {
    this.abort.abort();
  }

  /**
   * Replaces the map with these open shards and, for {@link rangeOf} only, these closed ones (also used by
   * tests). Ranges need not be sorted.
   */
  replace(ranges: readonly ShardRange[], closed: readonly ShardRange[] = []): void {
    const before = this.ranges;
    const sorted = [...ranges].sort((a, b) =>
      a.startingHashKey < b.startingHashKey ? -1 : a.startingHashKey > b.startingHashKey ? 1 : 0,
    );
    this.ranges = sorted;
    this.starts = sorted.map((range) => range.startingHashKey);
    this.startWords = toWords(this.starts);
    this.endWords = toWords(sorted.map((range) => range.endingHashKey));
    this.listed = new Map([...before, ...closed, ...sorted].map((range) => [range.shardId, range]));
    this.version += 1;
  }

  private async load(deadline: number, scope: ListingScope): Promise<void> {
    for (;;) {
      try {
        if (this.options.describeStream === true && this.limits === undefined) {
          this.limits = await this.describe();
        }
        const { open, closed } = await this.list(scope);
        this.backoff.succeed();
        this.retryAt = 0;
        this.listedAt = Date.now();
        this.replace(open, closed);
        return;
      } catch (error) {
        const classified =
          error instanceof ShardMapError
            ? error.classified
            : classifyError(error, { firstContact: !this.answered });
        this.options.onTryFailed?.(classified);
        const delay = this.backoff.fail();
        if (
          !classified.retriable ||
          delayBeforeDeadline(delay, Date.now(), deadline) === undefined ||
          this.abort.signal.aborted
        ) {
          this.retryAt = Date.now() + delay;
          throw error instanceof ShardMapError ? error : new ShardMapError(classified, error);
        }
        await sleep(delay, this.abort.signal);
        if (this.abort.signal.aborted) {
          this.retryAt = Date.now() + delay;
          throw new ShardMapError({ ...classified, message: 'shard map refresh stopped' }, error);
        }
      }
    }
  }

  /**
   * The stream's maximum record size. A stream (or an SDK, or an emulator) that reports none has the default
   * 1 MiB; so is assumed after a non-retriable failure (a policy without kinesis:DescribeStreamSummary), which
   * must not stop the producer. A retriable failure throws, to be retried with the listing's backoff.
   */
  private async describe(): Promise<StreamLimits> {
    const { client, streamName, streamARN, requestTimeoutMs } = this.options;
    try {
      const response = await client.send(
        new DescribeStreamSummaryCommand({ StreamName: streamName, StreamARN: streamARN }),
        { abortSignal: AbortSignal.timeout(requestTimeoutMs) },
      );
      this.answered = true;
      const kib: unknown = (response.StreamDescriptionSummary as { MaxRecordSizeInKiB?: unknown } | undefined)
        ?.MaxRecordSizeInKiB;
      if (typeof kib === 'number' && Number.isInteger(kib) && kib > 0) {
        const bytes = Math.min(LARGEST_MAX_RECORD_BYTES, Math.max(DEFAULT_MAX_RECORD_BYTES, kib * KiB));
        return { maxRecordBytes: bytes, assumedBecause: undefined };
      }
      // No MaxRecordSizeInKiB: a stream (or an SDK, or an emulator) from before large records, at 1 MiB.
      return { maxRecordBytes: DEFAULT_MAX_RECORD_BYTES, assumedBecause: undefined };
    } catch (error) {
      const classified = classifyError(error, { firstContact: !this.answered });
      // A client that cannot reach Kinesis fails the listing the same way: report that, not a default size.
      if (classified.retriable || classified.configuration === true) throw error;
      return { maxRecordBytes: DEFAULT_MAX_RECORD_BYTES, assumedBecause: classified.code };
    }
  }

  /**
   * The shards of `scope`, open and closed apart: ListShards, paginated (the only ListShards loop of this
   * package). The filter goes with the first page only; a NextToken carries the stream and the filter.
   */
  private async list(scope: ListingScope): Promise<{ open: ShardRange[]; closed: ShardRange[] }> {
    const { client, streamName, streamARN, requestTimeoutMs } = this.options;
    const open: ShardRange[] = [];
    const closed: ShardRange[] = [];
    const first: ListShardsCommandInput = { StreamName: streamName, StreamARN: streamARN };
    if (scope === 'open') first.ShardFilter = { Type: 'AT_LATEST' };
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const input: ListShardsCommandInput = nextToken === undefined ? first : { NextToken: nextToken };
      const response = await client.send(new ListShardsCommand(input), {
        abortSignal: AbortSignal.timeout(requestTimeoutMs),
      });
      this.answered = true;
      for (const shard of response.Shards ?? []) {
        const range = toRange(shard);
        if (range === undefined) continue;
        // A closed shard has an ending sequence number (an emulator may list one despite AT_LATEST).
        if (shard.SequenceNumberRange?.EndingSequenceNumber === undefined) open.push(range);
        else closed.push(range);
      }
      nextToken = response.NextToken;
      if (nextToken === undefined) {
        checkCoverage(open);
        return { open, closed };
      }
    }
    throw new ShardMapError(
      {
        code: 'TooManyPages',
        message: `ListShards returned more than ${MAX_PAGES} pages`,
        retriable: false,
      },
      undefined,
    );
  }
}

/** Hash keys (0..2^128-1) as four 32-bit words each, most significant first. */
function toWords(keys: readonly bigint[]): Uint32Array {
  const words = new Uint32Array(keys.length * 4);
  keys.forEach((key, i) => {
    for (let w = 0; w < 4; w++) words[i * 4 + w] = Number(BigInt.asUintN(32, key >> BigInt(96 - 32 * w)));
  });
  return words;
}

/** Compares the key at `words[at..at + 4)` with `key[0..4)`: negative, 0 or positive as it is less, equal, greater. */
function compareWords(words: Uint32Array, at: number, key: Uint32Array): number {
  for (let w = 0; w < 4; w++) {
    const difference = (words[at + w] as number) - (key[w] as number);
    if (difference !== 0) return difference;
  }
  return 0;
}

function toRange(shard: Shard): ShardRange | undefined {
  const { ShardId, HashKeyRange } = shard;
  if (ShardId === undefined || HashKeyRange?.StartingHashKey === undefined || !HashKeyRange.EndingHashKey) {
    return undefined;
  }
  return {
    shardId: ShardId,
    startingHashKey: BigInt(HashKeyRange.StartingHashKey),
    endingHashKey: BigInt(HashKeyRange.EndingHashKey),
  };
}

// A listing caught in the middle of a reshard can miss or overlap ranges; such a map would misroute, so it
// counts as a retriable failure.
function checkCoverage(ranges: ShardRange[]): void {
  const sorted = [...ranges].sort((a, b) =>
    a.startingHashKey < b.startingHashKey ? -1 : a.startingHashKey > b.startingHashKey ? 1 : 0,
  );
  let expected = 0n;
  for (const range of sorted) {
    if (range.startingHashKey !== expected) break;
    expected = range.endingHashKey + 1n;
  }
  if (sorted.length === 0 || expected !== MAX_HASH_KEY + 1n) {
    throw new ShardMapError(
      { code: 'IncompleteShardMap', message: 'open shards do not cover the hash key space', retriable: true },
      undefined,
    );
  }
}
