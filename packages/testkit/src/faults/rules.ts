import { type FaultAction, type FaultCall, MAX_FAULT_DELAY_MS } from './actions.js';
import { deriveSeed, type Random, seededRandom } from './prng.js';

/** When and how often a fault is injected into HTTP attempts. Rules are tried in order; see {@link FaultAction}. */
export interface FaultRule {
  /** Name for the counters. @defaultValue `` `rule-${index}` `` */
  name?: string;
  /**
   * Operation names (without `Command`) this rule applies to, for example `['PutRecords']`.
   * @defaultValue every operation
   */
  operations?: readonly string[];
  /** Further filter on the attempt (its input, attempt number). @defaultValue every attempt */
  match?: (call: FaultCall) => boolean;
  /** Let this many matching attempts through untouched before the rule can fire. @defaultValue `0` */
  skip?: number;
  /** Fire at most this many times in total, then stay quiet. @defaultValue `Infinity` */
  times?: number;
  /** Chance (0 to 1, seeded) that a matching, eligible attempt gets the fault. @defaultValue `1` */
  probability?: number;
  /** The fault. */
  action: FaultAction;
}

/** A rule with its own counters and its own seeded random stream. */
export interface LiveRule {
  readonly name: string;
  readonly rule: FaultRule;
  readonly random: Random;
  matched: number;
  fired: number;
}

export class FaultPlanError extends Error {
  readonly code = 'FAULT_PLAN_INVALID';
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = 'FaultPlanError';
  }
}

/** Validates rules at install time (a bad plan fails loudly, not as a mysteriously passing test). */
export function compileRules(rules: readonly FaultRule[], seed: number): LiveRule[] {
  return rules.map((rule, index) => {
    const name = rule.name ?? `rule-${index}`;
    checkFraction(rule.probability ?? 1, `${name}.probability`);
    if ((rule.skip ?? 0) < 0 || (rule.times ?? 0) < 0) {
      throw new FaultPlanError(`${name}: skip and times must not be negative`);
    }
    const action = rule.action;
    const ms = action.kind === 'delay' ? action.ms : action.kind === 'timeout' ? action.afterMs : 0;
    if (!(ms >= 0 && ms <= MAX_FAULT_DELAY_MS)) {
      throw new FaultPlanError(`${name}: delays must be 0..${MAX_FAULT_DELAY_MS} ms, got ${ms}`);
    }
    return { name, rule, random: seededRandom(deriveSeed(seed, index)), matched: 0, fired: 0 };
  });
}

export function checkFraction(value: number, label: string): void {
  if (!(value >= 0 && value <= 1)) throw new FaultPlanError(`${label} must be between 0 and 1, got ${value}`);
}

/** Decides whether `live` fires for `call`, updating its counters. */
export function fires(live: LiveRule, call: FaultCall): boolean {
  const { rule } = live;
  if (rule.operations && !rule.operations.includes(call.operation)) return false;
  if (rule.match && !rule.match(call)) return false;
  live.matched += 1;
  if (live.matched <= (rule.skip ?? 0)) return false;
  if (live.fired >= (rule.times ?? Number.POSITIVE_INFINITY)) return false;
  // Always draw, so whether rule k fires never depends on how often the probability was 1 before.
  const draw = live.random();
  if (draw >= (rule.probability ?? 1)) return false;
  live.fired += 1;
  return true;
}
