import { evenHashRanges, hashKeyBytes, MAX_HASH_KEY } from './hashKeys.js';
import type { ReadLimits } from './ReadThrottle.js';
import { ReadThrottle } from './ReadThrottle.js';
import { ShardRecords } from './ShardRecords.js';
import { type ShardLimits, ShardWindow } from './ShardWindow.js';

/** What every shard of a stream is built with. */
export interface ShardSetup {
  /** Undefined when writes are not limited. */
  readonly writeLimits: Required<ShardLimits> | undefined;
  /** Undefined when reads are not limited. */
  readonly readLimits: Required<ReadLimits> | undefined;
  /** Bytes of records a shard keeps readable before trimming the oldest. */
  readonly retainedBytesPerShard: number;
}

/** One shard of a simulated stream. */
export interface SimulatedShard {
  readonly shardId: string;
  readonly parentShardId: string | undefined;
  readonly adjacentParentShardId: string | undefined;
  readonly startingHashKey: bigint;
  readonly endingHashKey: bigint;
  readonly startingSequenceNumber: string;
  /** Set when the shard is closed by a split or merge. */
  endingSequenceNumber: string | undefined;
  /** Writes accepted, entries throttled, bytes (data + partition key) accepted. */
  readonly stats: { accepted: number; throttled: number; bytes: number };
  /** Upper end of the range as bytes, for routing. */
  readonly endBytes: Buffer;
  /** Undefined when the stream has no shard limits. */
  readonly window: ShardWindow | undefined;
  /** The readable records. */
  readonly records: ShardRecords;
  /** GetRecords limits; undefined when reads are not limited. */
  readonly reads: ReadThrottle | undefined;
}

export class SimulatorError extends Error {
  readonly retriable = false;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SimulatorError';
  }
}

/** Issues increasing 56-digit sequence numbers (one counter per simulator, so they are unique across shards). */
export class SequenceNumbers {
  private counter = 0;
  next(): string {
    this.counter += 1;
    return this.format(this.counter);
  }

  /** The last number issued, as a BigInt (what LATEST reads after). */
  current(): bigint {
    return BigInt(this.format(this.counter));
  }

  private format(counter: number): string {
    return `49${String(counter).padStart(54, '0')}`;
  }
}

/** A stream's shards, open and closed, and routing of hash keys to open shards. */
export class SimulatedStream {
  readonly shards: SimulatedShard[] = [];
  private readonly byId = new Map<string, SimulatedShard>();
  /** Open shards sorted by range, for binary search. */
  private open: SimulatedShard[] = [];
  readonly createdAt = new Date();
  /**
   * Largest record (data plus partition key) this stream accepts, as set by UpdateMaxRecordSize; undefined
   * for the simulator's default (`requestLimits.maxRecordBytes`).
   */
  maxRecordBytes: number | undefined;

  constructor(
    readonly name: string,
    readonly arn: string,
    shardCount: number,
    private readonly setup: ShardSetup,
    private readonly sequence: SequenceNumbers,
    maxRecordSizeInKiB?: number,
  ) {
    this.setMaxRecordSize(maxRecordSizeInKiB);
    if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > 10_000) {
      throw new SimulatorError('INVALID_SHARD_COUNT', `shardCount must be 1..10000, got ${shardCount}`);
    }
    for (const { start, end } of evenHashRanges(shardCount)) this.addShard(start, end);
    this.reindex();
  }

  /** Sets the stream's maximum record size in KiB, 1,024 to 10,240 (undefined: the simulator's default). */
  setMaxRecordSize(kib: number | undefined): void {
    if (kib === undefined) {
      this.maxRecordBytes = undefined;
      return;
    }
    if (!Number.isInteger(kib) || kib < 1024 || kib > 10_240) {
      throw new SimulatorError('INVALID_ARGUMENT', `MaxRecordSizeInKiB must be 1024..10240, got ${kib}`);
    }
    this.maxRecordBytes = kib * 1024;
  }

  /** The open shard that owns `hashKey` (16 big-endian bytes). Open shards always cover the whole range. */
  route(hashKey: Buffer): SimulatedShard {
    const open = this.open;
    let low = 0;
    let high = open.length - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const shard = open[mid] as SimulatedShard;
      if (hashKey.compare(shard.endBytes) <= 0) high = mid;
      else low = mid + 1;
    }
    return open[low] as SimulatedShard;
  }

  openShards(): readonly SimulatedShard[] {
    return this.open;
  }

  /** Closes `shardId` and opens two children split at `newStartingHashKey` (default: the middle). */
  split(shardId: string, newStartingHashKey?: bigint): [string, string] {
    const parent = this.openShard(shardId);
    const at = newStartingHashKey ?? (parent.startingHashKey + parent.endingHashKey + 1n) / 2n;
    if (at <= parent.startingHashKey || at > parent.endingHashKey) {
      throw new SimulatorError('INVALID_ARGUMENT', `NewStartingHashKey ${at} is not inside ${shardId}`);
    }
    parent.endingSequenceNumber = this.sequence.next();
    const left = this.addShard(parent.startingHashKey, at - 1n, parent.shardId);
    const right = this.addShard(at, parent.endingHashKey, parent.shardId);
    this.reindex();
    return [left.shardId, right.shardId];
  }

  /** Closes two adjacent open shards and opens one child covering both. */
  merge(shardId: string, adjacentShardId: string): string {
    const first = this.openShard(shardId);
    const second = this.openShard(adjacentShardId);
    const [low, high] = first.startingHashKey < second.startingHashKey ? [first, second] : [second, first];
    if (low.endingHashKey + 1n !== high.startingHashKey) {
      throw new SimulatorError('INVALID_ARGUMENT', `${shardId} and ${adjacentShardId} are not adjacent`);
    }
    first.endingSequenceNumber = this.sequence.next();
    second.endingSequenceNumber = this.sequence.next();
    const child = this.addShard(low.startingHashKey, high.endingHashKey, first.shardId, second.shardId);
    this.reindex();
    return child.shardId;
  }

  /** A shard, open or closed. */
  shard(shardId: string): SimulatedShard | undefined {
    return this.byId.get(shardId);
  }

  /** The shards whose parent (or adjacent parent) is `shardId`. */
  children(shardId: string): SimulatedShard[] {
    return this.shards.filter((s) => s.parentShardId === shardId || s.adjacentParentShardId === shardId);
  }

  private openShard(shardId: string): SimulatedShard {
    const shard = this.byId.get(shardId);
    if (!shard || shard.endingSequenceNumber !== undefined) {
      throw new SimulatorError('RESOURCE_NOT_FOUND', `no open shard ${shardId} in stream ${this.name}`);
    }
    return shard;
  }

  private addShard(start: bigint, end: bigint, parent?: string, adjacent?: string): SimulatedShard {
    if (start < 0n || end > MAX_HASH_KEY || start > end) {
      throw new SimulatorError('INVALID_ARGUMENT', `bad hash range ${start}..${end}`);
    }
    const limits = this.setup.writeLimits;
    const reads = this.setup.readLimits;
    const shard: SimulatedShard = {
      shardId: `shardId-${String(this.shards.length).padStart(12, '0')}`,
      parentShardId: parent,
      adjacentParentShardId: adjacent,
      startingHashKey: start,
      endingHashKey: end,
      startingSequenceNumber: this.sequence.next(),
      endingSequenceNumber: undefined,
      stats: { accepted: 0, throttled: 0, bytes: 0 },
      endBytes: hashKeyBytes(end),
      window: limits
        ? new ShardWindow(limits.recordsPerSecond, limits.bytesPerSecond, limits.windowMs)
        : undefined,
      records: new ShardRecords(this.setup.retainedBytesPerShard),
      reads: reads ? new ReadThrottle(reads) : undefined,
    };
    this.shards.push(shard);
    this.byId.set(shard.shardId, shard);
    return shard;
  }

  private reindex(): void {
    this.open = this.shards
      .filter((s) => s.endingSequenceNumber === undefined)
      .sort((a, b) => (a.startingHashKey < b.startingHashKey ? -1 : 1));
  }
}
