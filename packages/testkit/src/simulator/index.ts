export type { AcceptedEntry, EntryLogOptions } from './EntryLog.js';
export { evenHashRanges, MAX_HASH_KEY, partitionKeyHash } from './hashKeys.js';
export type { RequestLimits } from './operations.js';
export type { ShardLimits } from './ShardWindow.js';
export { SimulatorError } from './SimulatedStream.js';
export {
  type KinesisSimulator,
  type KinesisSimulatorOptions,
  type SimulatedShardInfo,
  type SimulatorStats,
  startKinesisSimulator,
} from './server.js';
