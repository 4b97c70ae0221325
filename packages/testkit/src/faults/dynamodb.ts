import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { controller, type FaultController, install } from './inject.js';
import { compileRules, type FaultRule } from './rules.js';

/** Faults for a DynamoDB client. */
export interface DynamoDBFaultPlan {
  /** Seed of every random choice. @defaultValue `1` */
  seed?: number;
  /**
   * Whole-attempt faults, tried in order, for example "the next 2 UpdateItem calls fail the condition":
   * `{ operations: ['UpdateItem'], times: 2, action: Faults.conditionalCheckFailed() }`.
   * @defaultValue `[]`
   */
  rules?: readonly FaultRule[];
}

/** Adds fault-injecting middleware to a real `DynamoDBClient`; see {@link injectKinesisFaults}. */
export function injectDynamoDBFaults(
  client: DynamoDBClient,
  plan: DynamoDBFaultPlan = {},
): FaultController<DynamoDBFaultPlan> {
  const installed = install(
    client,
    'application/x-amz-json-1.0',
    plan.rules ?? [],
    plan.seed ?? 1,
    (state) =>
      // Only counts calls; DynamoDB has no per-entry faults.
      (next) =>
      async (args) => {
        state.counters.calls += 1;
        return next(args);
      },
  );
  return controller(installed, (next: DynamoDBFaultPlan) => {
    installed.state.rules = compileRules(next.rules ?? [], next.seed ?? 1);
  });
}
