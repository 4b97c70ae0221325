import type { ChildShard, KinesisClient, Shard } from '@aws-sdk/client-kinesis';
import type { FetchError } from '../errors.js';
import { listShards, type StreamRef } from '../leases/ShardSyncer.js';
import { Deaggregator } from '../lifecycle/Deaggregator.js';
import { GET_RECORDS_LIMITS } from '../retrieval/limits.js';
import { PollingFetcher, type StartingPosition } from '../retrieval/PollingFetcher.js';
import { formatRecordLine } from './recordLine.js';
import { type PlannedShard, ShardPlan } from './shardPlan.js';

/** Options of {@link tail}. */
export interface TailOptions {
  kinesis: KinesisClient;
  stream: StreamRef;
  from: StartingPosition;
  /** Read only this shard (and, with `follow`, its descendants). */
  shardId?: string | undefined;
  /** Keep reading at the tip, and into child shards after a reshard. Without it, stop at the tip. */
  follow: boolean;
  /** Aborting stops every fetcher; `tail` then resolves. */
  signal: AbortSignal;
  /** Receives each output line (a JSON user record); awaited, so a slow reader slows the fetchers. */
  write: (line: string) => Promise<void>;
  /** Retriable read failures (the fetcher backs off and retries them). */
  onWarning?: ((error: FetchError) => void) | undefined;
  /** GetRecords `Limit`. @defaultValue `10_000` (as the consumer) */
  maxRecords?: number | undefined;
  /** Wait between GetRecords calls once caught up. @defaultValue `1_000` (as the consumer) */
  idleTimeBetweenReadsMs?: number | undefined;
}

/**
 * Reads user records off a stream without leases or checkpoints, with the consumer's own pieces: the
 * PollingFetcher (pacing, backoff, expired iterators), the Deaggregator (KPL aggregates, MD5, range flags)
 * and ListShards pagination. Shards are read in parallel, but a child only once every parent it has in the
 * plan was read to its end. Resolves when every planned shard is done (at the tip without `follow`) or the
 * signal aborts; rejects on a failure no retry can fix (the stream or shard is missing, access denied).
 */
export async function tail(options: TailOptions): Promise<void> {
  const { kinesis, stream, from, shardId, follow } = options;
  const abort = new AbortController();
  const stopAll = (): void => abort.abort();
  if (options.signal.aborted) return;
  options.signal.addEventListener('abort', stopAll, { once: true });
  let failure: unknown;
  try {
    const listed = await listShards(kinesis, stream, { signal: abort.signal });
    const plan = new ShardPlan(listed, selector(listed, from, shardId));
    await new Promise<void>((resolve) => {
      let active = 0;
      const launch = (): void => {
        if (abort.signal.aborted) return;
        for (const shard of plan.takeReady()) {
          active++;
          readShard(shard, options, abort.signal, (error) => {
            failure ??= error;
            abort.abort();
          })
            .then((end) => {
              if (abort.signal.aborted) return;
              plan.finish(shard.shardId);
              if (follow && end) plan.addChildren(end.children);
            })
            .catch((error: unknown) => {
              failure ??= error;
              abort.abort();
            })
            .finally(() => {
              active--;
              launch();
              if (active === 0) resolve();
            });
        }
      };
      launch();
      if (active === 0) resolve();
    });
  } catch (error) {
    if (!abort.signal.aborted) throw error;
  } finally {
    options.signal.removeEventListener('abort', stopAll);
  }
  if (failure !== undefined) throw failure;
}

/** Which listed shards to read, and from where. */
function selector(
  listed: readonly Shard[],
  from: StartingPosition,
  shardId: string | undefined,
): (shard: Shard) => StartingPosition | undefined {
  if (shardId !== undefined) {
    if (!listed.some((shard) => shard.ShardId === shardId)) {
      throw new Error(`shard ${shardId} is not in the stream (ListShards listed ${listed.length} shards)`);
    }
    return (shard) => (shard.ShardId === shardId ? from : undefined);
  }
  if (from.type === 'AT_SEQUENCE_NUMBER' || from.type === 'AFTER_SEQUENCE_NUMBER') {
    throw new Error('a sequence number belongs to one shard: give --shard with --from <sequence number>');
  }
  // After LATEST a closed shard has nothing more; its children are read from their start.
  if (from.type === 'LATEST') {
    return (shard) => (shard.SequenceNumberRange?.EndingSequenceNumber === undefined ? from : undefined);
  }
  return () => from;
}

/** Reads one shard and writes its user records; resolves with its children when it ended. */
async function readShard(
  shard: PlannedShard,
  options: TailOptions,
  signal: AbortSignal,
  fail: (error: unknown) => void,
): Promise<{ children: ChildShard[] } | undefined> {
  const fetcher = new PollingFetcher({
    kinesis: options.kinesis,
    stream: options.stream,
    shardId: shard.shardId,
    start: shard.start,
    maxRecords: options.maxRecords ?? 10_000,
    idleTimeBetweenReadsMs: options.idleTimeBetweenReadsMs ?? 1_000,
    maxPrefetchBatches: 3,
    maxPrefetchBytes: 33_554_432,
    ...GET_RECORDS_LIMITS,
    now: () => performance.now(),
    // A closed shard is always read to its end: its children wait for it.
    stopWhenCaughtUp: !options.follow && !shard.closed,
    onError: (error) => {
      if (error.retriable) options.onWarning?.(error);
      else fail(error);
    },
  });
  const deaggregator = new Deaggregator({
    hashKeyRange: shard.hashKeyRange,
    verifyChecksum: true,
    outOfRange: 'deliver',
  });
  const stop = (): void => void fetcher.stop();
  signal.addEventListener('abort', stop, { once: true });
  fetcher.start();
  try {
    for (;;) {
      const batch = await fetcher.next();
      if (!batch) return undefined;
      for (const record of deaggregator.deaggregate(batch.records)) {
        if (signal.aborted) return undefined;
        await options.write(formatRecordLine(shard.shardId, record));
      }
      if (batch.shardEnded) return { children: batch.childShards };
    }
  } finally {
    signal.removeEventListener('abort', stop);
    await fetcher.stop();
  }
}
