export {
  connectLocalStack,
  LOCAL_CREDENTIALS,
  type LocalStackClients,
  type LocalStackEndpoints,
} from './clients.js';
export {
  type LocalStack,
  LocalStackError,
  type LocalStackOptions,
  startLocalStack,
} from './localStack.js';
export { freeLoopbackPort } from './ports.js';
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
