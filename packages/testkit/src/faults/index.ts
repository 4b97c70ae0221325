export {
  type FaultAction,
  type FaultCall,
  Faults,
  MAX_FAULT_DELAY_MS,
  type ServiceErrorAction,
} from './actions.js';
export { type DynamoDBFaultPlan, injectDynamoDBFaults } from './dynamodb.js';
export type { FaultController, FaultCounters } from './inject.js';
export { injectKinesisFaults, type KinesisFaultPlan, type PutRecordsEntryFaults } from './kinesis.js';
export { seededRandom } from './prng.js';
export { FaultPlanError, type FaultRule } from './rules.js';
export {
  type SubscriptionCall,
  type SubscriptionFault,
  type SubscriptionFaultPlan,
  type SubscriptionFaultRule,
  SubscriptionFaults,
} from './subscriptions.js';
