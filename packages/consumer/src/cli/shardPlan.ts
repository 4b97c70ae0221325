import type { ChildShard, Shard } from '@aws-sdk/client-kinesis';
import type { HashKeyRange } from '@shardline/aggregation';
import { parentIds } from '../leases/ShardSyncer.js';
import type { StartingPosition } from '../retrieval/PollingFetcher.js';

/** A shard `shardline tail` reads: where it starts, and its range (to flag out-of-range user records). */
export interface PlannedShard {
  shardId: string;
  parents: readonly string[];
  hashKeyRange: HashKeyRange | undefined;
  start: StartingPosition;
  /** Closed when listed (it has an ending sequence number): always read to its end, never just to the tip. */
  closed: boolean;
}

type State = 'waiting' | 'reading' | 'done' | 'skipped';

/**
 * Which shards to read, and when: a shard starts only once every parent the plan knows of has been read to
 * its end (or was never to be read: `skipped`), so every partition key's records print parent before child.
 * Children met at a shard's end (`--follow`) join the plan from TRIM_HORIZON.
 */
export class ShardPlan {
  readonly #shards = new Map<string, PlannedShard>();
  readonly #state = new Map<string, State>();

  /** `select` gives a listed shard's starting position, or `undefined` to leave it unread. */
  constructor(listed: readonly Shard[], select: (shard: Shard) => StartingPosition | undefined) {
    for (const shard of listed) {
      if (!shard.ShardId) continue;
      const start = select(shard);
      const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
      this.#add(shard.ShardId, parentIds(shard), rangeOf(shard.HashKeyRange), start, closed);
    }
  }

  /** Adds the children a finished shard reported (those not known yet), to be read from TRIM_HORIZON. */
  addChildren(children: readonly ChildShard[]): void {
    for (const child of children) {
      if (!child.ShardId || this.#state.has(child.ShardId)) continue;
      this.#add(
        child.ShardId,
        child.ParentShards ?? [],
        rangeOf(child.HashKeyRange),
        { type: 'TRIM_HORIZON' },
        false,
      );
    }
  }

  /** Shards that may start now (their known parents all done); they are marked as being read. */
  takeReady(): PlannedShard[] {
    const ready: PlannedShard[] = [];
    for (const [shardId, state] of this.#state) {
      if (state !== 'waiting') continue;
      const shard = this.#shards.get(shardId);
      if (!shard) continue;
      const blocked = shard.parents.some((parent) => {
        const parentState = this.#state.get(parent);
        return parentState === 'waiting' || parentState === 'reading';
      });
      if (blocked) continue;
      this.#state.set(shardId, 'reading');
      ready.push(shard);
    }
    return ready;
  }

  /** The shard was read to its end (or, without `--follow`, to the tip). */
  finish(shardId: string): void {
    this.#state.set(shardId, 'done');
  }

  /** Whether any shard is still waiting or being read. */
  get pending(): boolean {
    for (const state of this.#state.values()) if (state === 'waiting' || state === 'reading') return true;
    return false;
  }

  /** Shards that will be or were read (for error messages and tests). */
  get selected(): string[] {
    return [...this.#state].filter(([, state]) => state !== 'skipped').map(([id]) => id);
  }

  #add(
    shardId: string,
    parents: readonly string[],
    hashKeyRange: HashKeyRange | undefined,
    start: StartingPosition | undefined,
    closed: boolean,
  ): void {
    if (start === undefined) {
      this.#state.set(shardId, 'skipped');
      return;
    }
    this.#shards.set(shardId, { shardId, parents, hashKeyRange, start, closed });
    this.#state.set(shardId, 'waiting');
  }
}

function rangeOf(
  range: { StartingHashKey?: string | undefined; EndingHashKey?: string | undefined } | undefined,
): HashKeyRange | undefined {
  return range?.StartingHashKey && range.EndingHashKey
    ? { startingHashKey: range.StartingHashKey, endingHashKey: range.EndingHashKey }
    : undefined;
}
