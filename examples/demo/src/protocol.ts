/**
 * Messages between the demo and its worker processes (IPC with `serialization: 'advanced'`, so bigint
 * timestamps travel as they are).
 */
import type { Delivery } from './verify.js';

/** What a worker needs to connect; passed as JSON in its environment. */
export interface WorkerConfig {
  workerId: string;
  streamName: string;
  applicationName: string;
  /** Local endpoints, or undefined for real AWS (standard SDK chain). */
  local: { kinesisEndpoint: string; dynamoDBEndpoint: string; region: string } | undefined;
  region: string | undefined;
  failoverTimeMs: number;
  /** Read with enhanced fan-out through this stream consumer (registered by the first worker), else poll. */
  fanOutConsumerName: string | undefined;
}

export type WorkerMessage =
  | { type: 'deliveries'; deliveries: Delivery[] }
  | {
      type: 'metrics';
      workerId: string;
      leasesHeld: number;
      recordsProcessed: number;
      checkpoints: number;
      leasesTaken: number;
      leasesStolen: number;
      leasesLost: number;
      getRecordsThrottles: number;
      processingErrors: number;
      lagByShard: Record<string, number | undefined>;
    }
  | { type: 'stopped'; workerId: string };

export type ParentMessage = { type: 'stop' };

export const WORKER_CONFIG_ENV = 'SHARDLINE_DEMO_WORKER';
