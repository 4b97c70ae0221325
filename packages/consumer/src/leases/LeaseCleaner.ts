import { GetShardIteratorCommand, type KinesisClient, type Shard } from '@aws-sdk/client-kinesis';
import { errorName } from '../errors.js';
import { isSequenceNumber } from '../types.js';
import { isFinished, type Lease, SHARD_END } from './Lease.js';
import type { LeaseStore } from './LeaseStore.js';
import { parentLinks } from './lineage.js';
import type { StreamRef } from './ShardSyncer.js';

/**
 * Why a lease was deleted: its shard was finished and its children took over, the shard no longer exists, or
 * (multi-stream) its stream was off the list for the grace period.
 */
export type LeaseDeletionReason = 'finished' | 'garbage' | 'former-stream';

/** Options for {@link LeaseCleaner}. */
export interface LeaseCleanerOptions {
  store: LeaseStore;
  kinesis: KinesisClient;
  stream: StreamRef;
  /**
   * A finished lease that still has an owner is deleted only once its counter has not moved for this long by
   * this worker's clock, so a lease a live worker still writes (between `SHARD_END` and its release) is left
   * alone; one left owned by a crashed worker goes after that.
   */
  failoverTimeMs: number;
  /** Delete attempts per run; as many Kinesis look-ups may confirm garbage per run. */
  maxDeletesPerRun: number;
  now: () => number;
  random?: () => number;
  signal?: AbortSignal;
  onDeleted?: (lease: Lease, reason: LeaseDeletionReason) => void;
  onError?: (error: unknown, operation: 'deleteLease' | 'confirmShardGone', leaseKey: string) => void;
}

/** What the shard sync just read: the listing and the lease table scan. */
export interface CleanupInput {
  shards: readonly Shard[];
  leases: readonly Lease[];
}

/** Outcome of one run. */
export interface CleanupResult {
  deleted: Array<{ shardId: string; reason: LeaseDeletionReason }>;
  /** Deletes whose condition failed: the lease changed after the scan, or another worker deleted it first. */
  lostRaces: number;
}

/** One run's reading of the table and the lineage; `leases` loses each lease as it is deleted. */
interface View {
  parents: ReadonlyMap<string, readonly string[]>;
  children: ReadonlyMap<string, ReadonlySet<string>>;
  leases: Map<string, Lease>;
  now: number;
}

/** Consecutive listings a lease's shard must be missing from before Kinesis is asked whether it exists. */
const LISTINGS_MISSING_BEFORE_CONFIRM = 2;

/**
 * Lease cleanup, KCL style, run on the shard sync's own ListShards listing and lease scan (no extra scans):
 *
 * - **finished**: a `SHARD_END` lease whose every child shard (from its `childShardIds`, the listing and the
 *   children's `parentShardId`) has a lease checkpointed past its start (a sequence number or `SHARD_END`,
 *   not `TRIM_HORIZON` / `LATEST` / `AT_TIMESTAMP`), and none of whose parents still has a lease (ancestors
 *   go first, as in the KCL, so a lease never finds a child's lease missing). Children then neither wait for
 *   it nor need it for order.
 * - **garbage**: a lease whose shard was missing from two consecutive listings and for which Kinesis answers
 *   GetShardIterator with ResourceNotFoundException (aged out of retention, or never in the stream). One
 *   missing listing is not enough: a child lease can exist before listings show the child.
 *
 * Deletes are conditional on the lease exactly as scanned, so a lease that changed meanwhile survives (a lost
 * race, retried next run); bounded per run; parents before children within a run. The shard sync never
 * re-creates a deleted lease: a shard with a leased descendant gets none.
 */
export class LeaseCleaner {
  readonly #options: LeaseCleanerOptions;
  /** Leases whose shard was missing from the latest listings: how many in a row. */
  readonly #missing = new Map<string, number>();
  /** Owned finished leases: the owner and counter last seen, and since when (local clock). */
  readonly #owned = new Map<string, { owner: string; counter: number; since: number }>();

  constructor(options: LeaseCleanerOptions) {
    this.#options = options;
  }

  async clean({ shards, leases }: CleanupInput): Promise<CleanupResult> {
    const result: CleanupResult = { deleted: [], lostRaces: 0 };
    const now = this.#options.now();
    const listed = new Set(shards.map((shard) => shard.ShardId ?? ''));
    this.#observe(leases, listed, now);
    const byKey = new Map(leases.map((lease) => [lease.leaseKey, lease]));
    const parents = parentLinks(shards, leases);
    const children = new Map<string, Set<string>>();
    for (const [child, ofChild] of parents) for (const parent of ofChild) addTo(children, parent, child);
    for (const lease of leases)
      for (const child of lease.childShardIds) addTo(children, lease.leaseKey, child);
    const view: View = { parents, children, leases: byKey, now };

    let deletesLeft = this.#options.maxDeletesPerRun;
    let confirmsLeft = this.#options.maxDeletesPerRun;
    // Shuffled, so that workers cleaning at once mostly try different leases, then parents first.
    for (const lease of parentsFirst(this.#shuffle(leases), parents)) {
      if (deletesLeft <= 0 || this.#options.signal?.aborted) break;
      const key = lease.leaseKey;
      let reason: LeaseDeletionReason | undefined;
      if (this.#finishedAndTakenOver(lease, view)) reason = 'finished';
      else if (
        confirmsLeft > 0 &&
        !listed.has(key) &&
        (this.#missing.get(key) ?? 0) >= LISTINGS_MISSING_BEFORE_CONFIRM
      ) {
        confirmsLeft--;
        try {
          if (await this.#shardGone(key)) reason = 'garbage';
        } catch (error) {
          if (this.#options.signal?.aborted) break;
          this.#options.onError?.(error, 'confirmShardGone', key);
          confirmsLeft = 0; // throttled or not allowed: the next run asks again
        }
      }
      if (reason === undefined) continue;
      deletesLeft--;
      try {
        if (await this.#options.store.deleteLease(lease)) {
          byKey.delete(key); // its children may go in this same run
          this.#missing.delete(key);
          this.#owned.delete(key);
          result.deleted.push({ shardId: key, reason });
          this.#options.onDeleted?.(lease, reason);
        } else {
          result.lostRaces++;
        }
      } catch (error) {
        // Throttled, or not allowed (an IAM policy without dynamodb:DeleteItem): reported once per run.
        this.#options.onError?.(error, 'deleteLease', key);
        break;
      }
    }
    return result;
  }

  #finishedAndTakenOver(lease: Lease, view: View): boolean {
    if (!isFinished(lease)) return false;
    // Ancestors first (KCL): otherwise a parent would find this child's lease missing and stay forever.
    if ((view.parents.get(lease.leaseKey) ?? []).some((parent) => view.leases.has(parent))) return false;
    const children = view.children.get(lease.leaseKey);
    if (!children || children.size === 0) return false; // children unknown: cannot tell they took over
    for (const child of children) if (!pastStart(view.leases.get(child))) return false;
    if (lease.leaseOwner === undefined) return true;
    const owned = this.#owned.get(lease.leaseKey);
    return owned !== undefined && view.now - owned.since >= this.#options.failoverTimeMs;
  }

  #observe(leases: readonly Lease[], listed: ReadonlySet<string>, now: number): void {
    const keys = new Set(leases.map((lease) => lease.leaseKey));
    for (const key of this.#missing.keys()) if (!keys.has(key) || listed.has(key)) this.#missing.delete(key);
    for (const key of this.#owned.keys()) if (!keys.has(key)) this.#owned.delete(key);
    for (const lease of leases) {
      const key = lease.leaseKey;
      if (!listed.has(key)) this.#missing.set(key, (this.#missing.get(key) ?? 0) + 1);
      if (!isFinished(lease) || lease.leaseOwner === undefined) {
        this.#owned.delete(key);
        continue;
      }
      const seen = this.#owned.get(key);
      if (seen?.owner !== lease.leaseOwner || seen.counter !== lease.leaseCounter) {
        this.#owned.set(key, { owner: lease.leaseOwner, counter: lease.leaseCounter, since: now });
      }
    }
  }

  /** Whether Kinesis says the shard does not exist. Other errors are thrown (nothing is concluded from them). */
  async #shardGone(shardId: string): Promise<boolean> {
    try {
      await this.#options.kinesis.send(
        new GetShardIteratorCommand({
          ...this.#options.stream,
          ShardId: shardId,
          ShardIteratorType: 'LATEST',
        }),
        { abortSignal: this.#options.signal },
      );
      return false;
    } catch (error) {
      const name = errorName(error);
      if (name === 'ResourceNotFoundException') return true;
      // Not a shard id at all (a multi-stream KCL lease key, for one): not ours to judge, so left alone.
      if (name === 'InvalidArgumentException' || name === 'ValidationException') return false;
      throw error;
    }
  }

  #shuffle<T>(items: readonly T[]): T[] {
    const random = this.#options.random ?? Math.random;
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
    }
    return copy;
  }
}

/** A sequence number or `SHARD_END`: the child has started (the KCL's "not TRIM_HORIZON / AT_TIMESTAMP"). */
function pastStart(lease: Lease | undefined): boolean {
  return lease !== undefined && (lease.checkpoint === SHARD_END || isSequenceNumber(lease.checkpoint));
}

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}

/** Orders leases so every parent lease comes before its children's (iteratively: lineages can be long). */
function parentsFirst(leases: readonly Lease[], parents: ReadonlyMap<string, readonly string[]>): Lease[] {
  const byKey = new Map(leases.map((lease) => [lease.leaseKey, lease]));
  const ordered: Lease[] = [];
  const visited = new Set<string>();
  for (const start of leases) {
    const stack: Array<{ lease: Lease; expanded: boolean }> = [{ lease: start, expanded: false }];
    for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
      const key = top.lease.leaseKey;
      if (top.expanded) {
        ordered.push(top.lease);
        continue;
      }
      if (visited.has(key)) continue;
      visited.add(key);
      stack.push({ lease: top.lease, expanded: true });
      for (const parent of parents.get(key) ?? []) {
        const parentLease = byKey.get(parent);
        if (parentLease && !visited.has(parent)) stack.push({ lease: parentLease, expanded: false });
      }
    }
  }
  return ordered;
}
