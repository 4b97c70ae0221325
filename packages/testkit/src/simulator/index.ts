export type { AcceptedEntry, EntryLogOptions } from './EntryLog.js';
export { evenHashRanges, MAX_HASH_KEY, partitionKeyHash } from './hashKeys.js';
export type { RequestLimits } from './operations.js';
export type { ReadLimits } from './ReadThrottle.js';
export type { ShardLimits } from './ShardWindow.js';
export { SimulatorError } from './SimulatedStream.js';
export { startKinesisSimulator } from './server.js';
export type {
  KinesisSimulator,
  KinesisSimulatorOptions,
  SimulatedShardInfo,
  SimulatorStats,
} from './types.js';
