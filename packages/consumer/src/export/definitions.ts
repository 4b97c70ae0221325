// The consumer's metrics as the exporters publish them: the KCL's names where it has them, kinds, units and
// attributes.

import type { MetricDefinition, MetricPoint, MetricSource } from '@shardline/telemetry';
import type { KinesisConsumer } from '../KinesisConsumer.js';
import type { MetricsSnapshot, ShardMetrics } from '../metrics.js';

type Counter = Exclude<
  {
    [K in keyof MetricsSnapshot]: MetricsSnapshot[K] extends number ? K : never;
  }[keyof MetricsSnapshot],
  undefined
>;

const counter = (
  name: string,
  key: Counter,
  unit: 'Count' | 'Bytes',
  description: string,
): MetricDefinition<MetricsSnapshot> => ({
  name,
  kind: 'counter',
  unit,
  description,
  read: (m): MetricPoint[] => [{ value: m[key] }],
});

/** The table the README documents: name, kind, unit, attributes (beyond StreamName and ApplicationName). */
export const CONSUMER_METRICS: readonly MetricDefinition<MetricsSnapshot>[] = [
  {
    name: 'MillisBehindLatest',
    kind: 'gauge',
    unit: 'Milliseconds',
    description: 'How far the last GetRecords response was from the tip of the shard',
    read: (m) =>
      m.shards.flatMap((shard) =>
        shard.millisBehindLatest === undefined
          ? []
          : [{ value: shard.millisBehindLatest, attributes: shardAttributes(shard) }],
      ),
  },
  {
    name: 'CurrentLeases',
    kind: 'gauge',
    unit: 'Count',
    description: 'Leases this worker holds',
    read: (m) => [{ value: m.leasesHeld }],
  },
  {
    name: 'NumWorkers',
    kind: 'gauge',
    unit: 'Count',
    description: 'Workers this one sees alive, itself included',
    read: (m) => [{ value: m.liveWorkers }],
  },
  {
    name: 'ShardsBlocked',
    kind: 'gauge',
    unit: 'Count',
    description: 'Shards blocked on a record that keeps failing',
    read: (m) => [{ value: m.shardsBlocked }],
  },
  counter(
    'RecordsProcessed',
    'recordsProcessed',
    'Count',
    'User records handed to the processor in batches that completed',
  ),
  counter('BytesProcessed', 'bytesProcessed', 'Bytes', 'Bytes of those records'),
  counter('Checkpoints', 'checkpoints', 'Count', 'Checkpoints written'),
  counter('LeaseRenewals', 'leaseRenewals', 'Count', 'Lease renewals'),
  counter('LeasesTaken', 'leasesTaken', 'Count', 'Leases taken'),
  counter(
    'LeasesStolen',
    'leasesStolen',
    'Count',
    'Leases taken from a live owner that did not hand them over',
  ),
  counter('LeasesLost', 'leasesLost', 'Count', 'Leases lost (taken by another worker, or expired)'),
  counter('LeasesReleased', 'leasesReleased', 'Count', 'Leases given up'),
  counter('HandoffsRequested', 'handoffsRequested', 'Count', 'Graceful handoffs this worker asked for'),
  counter('LeasesHandedOff', 'leasesHandedOff', 'Count', 'Leases handed over after checkpointing'),
  counter('BalanceMoves', 'balanceMoves', 'Count', 'Leases this worker handed over to balance throughput'),
  counter('LeasesDeleted', 'leasesDeleted', 'Count', 'Leases deleted by lease cleanup'),
  counter('ProcessingErrors', 'processingErrors', 'Count', 'Processor (or dead-letter hook) failures'),
  counter(
    'RecordsDeadLettered',
    'recordsDeadLettered',
    'Count',
    'Poison records the deadLetter hook accepted',
  ),
  counter(
    'RecordsSkipped',
    'recordsSkipped',
    'Count',
    "Poison records moved past with onProcessingFailure 'skip'",
  ),
  counter(
    'RecordsOutOfRangeDelivered',
    'recordsOutOfRangeDelivered',
    'Count',
    "User records outside their shard's hash range, delivered flagged",
  ),
  counter(
    'RecordsOutOfRangeDropped',
    'recordsOutOfRangeDropped',
    'Count',
    "User records outside their shard's hash range, dropped",
  ),
  counter('GetRecordsThrottles', 'getRecordsThrottles', 'Count', 'GetRecords calls throttled'),
  counter('LeaseTableReads', 'leaseTableReads', 'Count', 'Read requests to the lease and heartbeat tables'),
  counter(
    'LeaseTableWrites',
    'leaseTableWrites',
    'Count',
    'Write requests to the lease and heartbeat tables',
  ),
  counter('LeaseTableReadUnits', 'leaseTableReadUnits', 'Count', 'Read capacity units those tables reported'),
  counter(
    'LeaseTableWriteUnits',
    'leaseTableWriteUnits',
    'Count',
    'Write capacity units those tables reported',
  ),
  {
    name: 'BlockedTime',
    kind: 'histogram',
    unit: 'Milliseconds',
    description: 'How long a shard was blocked on a poison record, when it moves on',
  },
];

/** A shard's attributes; its stream's too in a multi-stream application (the consumer then has none). */
function shardAttributes(shard: ShardMetrics): Record<string, string> {
  const attributes: Record<string, string> = { ShardId: shard.shardId };
  if (shard.streamName !== undefined) attributes.StreamName = shard.streamName;
  return attributes;
}

/** The consumer as the exporters read it. */
export function consumerSource(consumer: KinesisConsumer): MetricSource<MetricsSnapshot> {
  return {
    definitions: CONSUMER_METRICS,
    // A multi-stream consumer has no one stream: its per-shard points carry their own StreamName.
    attributes:
      consumer.streamName === ''
        ? { ApplicationName: consumer.applicationName }
        : { StreamName: consumer.streamName, ApplicationName: consumer.applicationName },
    snapshot: () => consumer.metrics(),
    subscribe: (sink) =>
      consumer.on('shardUnblocked', (event) =>
        sink('BlockedTime', event.blockedForMs, { ShardId: event.shardId }),
      ),
  };
}
