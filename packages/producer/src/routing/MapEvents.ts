import type { RateLimiter } from '../collection/RateLimiter.js';
import type { RecordLimits } from '../collection/RecordLimits.js';
import { type ClassifiedError, ValidationError } from '../errors.js';
import { LARGEST_MAX_RECORD_BYTES } from '../options.js';
import type { Pipeline } from '../pipeline.js';
import type { PendingRecord } from '../settlement/PendingRecord.js';
import type { Settlement } from '../settlement/Settlement.js';
import type { ShardRange } from '../types.js';
import type { RefreshReason, ShardRouter } from './ShardRouter.js';

/** What the shard map's outcomes touch. */
export interface MapEventsDeps {
  router: ShardRouter;
  limiter: RateLimiter;
  limits: RecordLimits;
  settlement: Settlement;
}

/**
 * What follows a shard map listing: metrics, events and logs, dropping rate limiters of shards that are gone,
 * and checking records put before the stream's record size limit was known.
 */
export class MapEvents {
  constructor(
    private readonly pipeline: Pipeline,
    private readonly deps: MapEventsDeps,
  ) {}

  loaded(reason: RefreshReason, shards: readonly ShardRange[]): void {
    this.pipeline.recorder.shardMapRefreshes += 1;
    this.checkUnroutedSizes();
    this.deps.limiter.retain(new Set(shards.map((shard) => shard.shardId)));
    this.pipeline.options.logger?.info('shard map loaded', { reason, shards: shards.length });
    this.pipeline.notify('shardMapRefreshed', { reason, shards: shards.length });
  }

  failed(error: ClassifiedError): void {
    const { code, retriable, message } = error;
    const configuration = error.configuration === true;
    this.pipeline.recorder.error(code);
    this.pipeline.notify('shardMapRefreshFailed', { errorCode: code, retriable, message, configuration });
    this.pipeline.options.logger?.warn('shard map refresh failed', { errorCode: code, retriable, message });
  }

  /**
   * Records put before the stream's limit was known were checked against the largest any stream allows;
   * now that it is known, those above it fail as `put` would have failed them (the rest are routed next).
   */
  private checkUnroutedSizes(): void {
    const limits = this.deps.limits;
    const router = this.deps.router;
    const limit = limits.recordLimit();
    const unrouted = router.unrouted;
    if (limit >= LARGEST_MAX_RECORD_BYTES || unrouted.length === 0) return;
    const streamLimits = router.shardMap.limits;
    if (streamLimits?.assumedBecause !== undefined) {
      this.pipeline.options.logger?.warn(
        'DescribeStreamSummary failed; assuming the default 1 MiB maximum record size (set maxRecordBytes to override)',
        { errorCode: streamLimits.assumedBecause },
      );
    }
    const records = unrouted.removeAll();
    const tooLarge: PendingRecord[] = [];
    for (const record of records) {
      if (record.bytes <= limit) unrouted.putBack(record);
      else tooLarge.push(record);
    }
    for (const record of tooLarge) {
      this.deps.settlement.fail(
        record,
        new ValidationError(
          `record is ${record.bytes} bytes (data plus partition key), above ${limits.recordLimitName()} ${limit}`,
        ),
      );
    }
  }
}
