import { KeyGate } from './collection/KeyGate.js';
import { RateLimiter } from './collection/RateLimiter.js';
import { RecordLimits } from './collection/RecordLimits.js';
import { Scheduler } from './collection/Scheduler.js';
import { ConfigurationError } from './errors.js';
import type { MetricsRecorder } from './metrics.js';
import { DEFAULT_MAX_RECORD_BYTES, LARGEST_MAX_RECORD_BYTES, type ResolvedOptions } from './options.js';
import type { Pipeline } from './pipeline.js';
import { Admission } from './routing/Admission.js';
import { MapEvents } from './routing/MapEvents.js';
import { type RefreshReason, ShardRouter } from './routing/ShardRouter.js';
import { Dispatcher } from './sending/Dispatcher.js';
import { Sender } from './sending/Sender.js';
import { Results } from './settlement/Results.js';
import { Settlement } from './settlement/Settlement.js';
import type { ShardRange } from './types.js';
import type { Wakeup } from './Wakeup.js';

/** The pipeline's stages, as `KinesisProducer` holds them. */
export interface Stages {
  settlement: Settlement;
  router: ShardRouter;
  mapEvents: MapEvents;
  limiter: RateLimiter;
  limits: RecordLimits;
  scheduler: Scheduler;
  dispatcher: Dispatcher;
  admission: Admission;
}

/** What the stages ask of the producer's face. */
export interface FaceHooks extends Pick<Pipeline, 'notify' | 'reportInternalError'> {
  /** A shard map listing loaded (the face forwards it to `MapEvents`). */
  mapLoaded(reason: RefreshReason, shards: readonly ShardRange[]): void;
  isClosed(): boolean;
}

/**
 * Builds and connects the stages: put -> routing -> collection -> sending -> settlement. Each stage gets only
 * the stages it calls; the face gets all of them back.
 */
export function buildStages(
  o: ResolvedOptions,
  recorder: MetricsRecorder,
  wakeup: Wakeup,
  face: FaceHooks,
): Stages {
  const pipeline: Pipeline = {
    options: o,
    recorder,
    wakeup,
    notify: face.notify,
    reportInternalError: face.reportInternalError,
  };
  const settlement = new Settlement(o, recorder, {
    drained: () => face.notify('drain'),
    recordsFailed: (payload) => face.notify('recordsFailed', payload),
    idle: () => wakeup.cancel(),
  });
  const gate = new KeyGate(o.ordered);
  const limiter = new RateLimiter(o.rateLimitPercent);
  const router = new ShardRouter(
    {
      client: o.client,
      streamName: o.streamName,
      streamARN: o.streamARN,
      minDelayMs: o.shardMapRefreshMinDelayMs,
      maxDelayMs: o.shardMapRefreshMaxDelayMs,
      requestTimeoutMs: o.requestTimeoutMs,
      recordTtlMs: o.recordTtlMs,
      refreshIntervalMs: o.shardMapRefreshIntervalMs,
      reshardResend: o.reshardResend,
      describeStream: o.maxRecordBytesFromStream,
      recorder,
    },
    {
      succeed: (record, shardId, sequenceNumber, sub) =>
        settlement.succeed(record, shardId, sequenceNumber, sub),
      failAll: (records, error, cause) => settlement.failAll(records, error, cause),
      unparked: (record) => gate.leave(record),
      mapLoaded: (reason, shards) => face.mapLoaded(reason, shards),
      mapFailed: (error) => mapEvents.failed(error),
      internalError: (error) => face.reportInternalError('while handling a shard map listing', error),
      wakeSoon: () => wakeup.soon(),
      wakeAt: (time) => wakeup.at(time),
    },
  );
  const limits = new RecordLimits(o, router.shardMap);
  const mapEvents = new MapEvents(pipeline, { router, limiter, limits, settlement });
  const sender = new Sender({
    client: o.client,
    streamName: o.streamName,
    streamARN: o.streamARN,
    requestTimeoutMs: o.requestTimeoutMs,
    maxRequestRetries: o.maxRequestRetries,
    backoff: { baseDelayMs: o.retryBaseDelayMs, maxDelayMs: o.retryMaxDelayMs },
  });
  const results = new Results(pipeline, { settlement, router, limiter, gate });
  const dispatcher = new Dispatcher(pipeline, sender, results, router, gate);
  const scheduler = new Scheduler(pipeline, { router, limiter, gate, limits, settlement, dispatcher });
  const admission = new Admission(pipeline, {
    settlement,
    router,
    limits,
    scheduler,
    isClosed: face.isClosed,
  });
  return { settlement, router, mapEvents, limiter, limits, scheduler, dispatcher, admission };
}

/** Every combination of options must be able to build a request: found out at construction, not in a timer. */
export function assertBuildsRequests(o: ResolvedOptions, limits: RecordLimits): void {
  const largest = o.maxRecordBytesFromStream ? LARGEST_MAX_RECORD_BYTES : o.maxRecordBytes;
  for (const recordLimit of new Set([Math.min(DEFAULT_MAX_RECORD_BYTES, largest), largest])) {
    try {
      limits.newRequestBuilder(recordLimit);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new ConfigurationError(`these options cannot build a request: ${message}`);
    }
  }
}
