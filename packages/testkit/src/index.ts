export {
  connectLocalStack,
  LOCAL_CREDENTIALS,
  LOCAL_HTTP_TIMEOUTS,
  type LocalStackClients,
  type LocalStackEndpoints,
  localRequestHandler,
  localStackProcessEnv,
} from './clients.js';
export { CLOUDWATCH_UNITS, type EmfMetric, parseEmfLine, parseEmfLines } from './emf.js';
export {
  type DynamoDBFaultPlan,
  type FaultAction,
  type FaultCall,
  type FaultController,
  type FaultCounters,
  FaultPlanError,
  type FaultRule,
  Faults,
  injectDynamoDBFaults,
  injectKinesisFaults,
  type KinesisFaultPlan,
  MAX_FAULT_DELAY_MS,
  type PutRecordsEntryFaults,
  type ServiceErrorAction,
  seededRandom,
} from './faults/index.js';
export {
  type LocalStack,
  LocalStackError,
  type LocalStackOptions,
  startLocalStack,
} from './localStack.js';
export { freeLoopbackPort } from './ports.js';
export { isProcessAlive } from './processes.js';
export {
  type AcceptedEntry,
  type EntryLogOptions,
  evenHashRanges,
  type KinesisSimulator,
  type KinesisSimulatorOptions,
  MAX_HASH_KEY,
  partitionKeyHash,
  type ReadLimits,
  type RequestLimits,
  type ShardLimits,
  type SimulatedShardInfo,
  SimulatorError,
  type SimulatorStats,
  startKinesisSimulator,
} from './simulator/index.js';
export {
  type CreateStreamOptions,
  createStream,
  listAllShards,
  type ReadAllOptions,
  readAllRecords,
  type StreamRecord,
  uniqueName,
  waitForStreamActive,
} from './streams.js';
