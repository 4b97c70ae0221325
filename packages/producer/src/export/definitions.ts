// The producer's metrics as the exporters publish them: the KPL's names, kinds, units and attributes.

import type { MetricDefinition, MetricPoint, MetricSource } from '@shardline/telemetry';
import type { KinesisProducer } from '../KinesisProducer.js';
import type { ProducerMetrics } from '../metrics.js';

const total = (value: number): MetricPoint[] => [{ value }];
const byKey = (values: Record<string, number>, key: string): MetricPoint[] =>
  Object.entries(values).map(([id, value]) => ({ value, attributes: { [key]: id } }));

/** The table the README documents: name, kind, unit, attributes (beyond StreamName). */
export const PRODUCER_METRICS: readonly MetricDefinition<ProducerMetrics>[] = [
  {
    name: 'UserRecordsReceived',
    kind: 'counter',
    unit: 'Count',
    description: 'Records accepted by put',
    read: (m) => total(m.UserRecordsReceived),
  },
  {
    name: 'UserRecordsPut',
    kind: 'counter',
    unit: 'Count',
    description: 'Records Kinesis accepted',
    read: (m) => total(m.UserRecordsPut),
  },
  {
    name: 'UserRecordsDataPut',
    kind: 'counter',
    unit: 'Bytes',
    description: 'Data and partition key bytes of the records Kinesis accepted',
    read: (m) => total(m.UserRecordsDataPut),
  },
  {
    name: 'UserRecordsFailed',
    kind: 'counter',
    unit: 'Count',
    description: 'Records whose put rejected after being accepted',
    read: (m) => total(m.UserRecordsFailed),
  },
  {
    name: 'UserRecordExpired',
    kind: 'counter',
    unit: 'Count',
    description: 'Records that failed with EXPIRED',
    read: (m) => total(m.UserRecordExpired),
  },
  {
    name: 'KinesisRecordsPut',
    kind: 'counter',
    unit: 'Count',
    description: 'Kinesis records (aggregates or single records) Kinesis accepted',
    read: (m) => total(m.KinesisRecordsPut),
  },
  {
    name: 'KinesisRecordsDataPut',
    kind: 'counter',
    unit: 'Bytes',
    description: 'Bytes of the Kinesis records Kinesis accepted',
    read: (m) => total(m.KinesisRecordsDataPut),
  },
  {
    name: 'AllErrors',
    kind: 'counter',
    unit: 'Count',
    description: 'Failed entries and requests, all codes',
    read: (m) => total(m.AllErrors),
  },
  {
    name: 'ErrorsByCode',
    kind: 'counter',
    unit: 'Count',
    description: 'Failed entries and requests by error code',
    read: (m) => byKey(m.ErrorsByCode, 'ErrorCode'),
  },
  {
    name: 'ThrottlesByShard',
    kind: 'counter',
    unit: 'Count',
    description: 'ProvisionedThroughputExceeded entries by shard: names a hot shard',
    read: (m) => byKey(m.ThrottlesByShard, 'ShardId'),
  },
  {
    name: 'ShardMapRefreshes',
    kind: 'counter',
    unit: 'Count',
    description: 'Shard map loads',
    read: (m) => total(m.ShardMapRefreshes),
  },
  {
    name: 'UserRecordsPending',
    kind: 'gauge',
    unit: 'Count',
    description: 'Records put and not yet settled',
    read: (m) => total(m.UserRecordsPending),
  },
  {
    name: 'BufferedBytes',
    kind: 'gauge',
    unit: 'Bytes',
    description: 'Bytes of records put and not yet settled',
    read: (m) => total(m.BufferedBytes),
  },
  {
    name: 'InFlightRequests',
    kind: 'gauge',
    unit: 'Count',
    description: 'PutRecords requests in flight',
    read: (m) => total(m.InFlightRequests),
  },
  {
    name: 'RateLimitByShard',
    kind: 'gauge',
    unit: 'None',
    description: "The shard's rate limit as a share of the configured rate (1 = full)",
    read: (m) => byKey(m.RateLimitByShard, 'ShardId'),
  },
  {
    name: 'BufferingTime',
    kind: 'average',
    unit: 'Milliseconds',
    description: 'Average time from put to first send over the interval',
    read: (m) => m.BufferingTime,
  },
  {
    name: 'RetriesPerRecord',
    kind: 'average',
    unit: 'Count',
    description: 'Average failed attempts per settled record over the interval',
    read: (m) => m.RetriesPerRecord,
  },
  {
    name: 'UserRecordsPerKinesisRecord',
    kind: 'average',
    unit: 'Count',
    description: 'Average user records per accepted Kinesis record over the interval',
    read: (m) => m.UserRecordsPerKinesisRecord,
  },
  {
    name: 'RequestTime',
    kind: 'histogram',
    unit: 'Milliseconds',
    description: 'Duration of PutRecords calls',
  },
  {
    name: 'KinesisRecordsPerPutRecordsRequest',
    kind: 'histogram',
    unit: 'Count',
    description: 'Entries per PutRecords request',
  },
  {
    name: 'UserRecordsPerPutRecordsRequest',
    kind: 'histogram',
    unit: 'Count',
    description: 'User records per PutRecords request',
  },
];

/** The producer as the exporters read it. */
export function producerSource(producer: KinesisProducer): MetricSource<ProducerMetrics> {
  return {
    definitions: PRODUCER_METRICS,
    attributes: { StreamName: producer.streamName },
    snapshot: () => producer.metrics(),
    subscribe: (sink) => {
      const onRequest = (event: { entries: number; userRecords: number; durationMs: number }): void => {
        sink('RequestTime', event.durationMs);
        sink('KinesisRecordsPerPutRecordsRequest', event.entries);
        sink('UserRecordsPerPutRecordsRequest', event.userRecords);
      };
      producer.on('request', onRequest);
      return () => {
        producer.off('request', onRequest);
      };
    },
  };
}
