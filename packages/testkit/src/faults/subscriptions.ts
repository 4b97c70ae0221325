import { deriveSeed, type Random, seededRandom } from './prng.js';
import { checkFraction, FaultPlanError } from './rules.js';

/**
 * What the simulator does to a SubscribeToShard subscription a rule picked, after `afterEvents` events.
 * - `exception`: an exception event (`:message-type exception`); the SDK throws its modelled class
 *   (`InternalFailureException`, `ResourceNotFoundException`, `ResourceInUseException`, `KMS...Exception`),
 *   then the stream ends.
 * - `error`: an unmodelled error event (`:message-type error`); the SDK throws an `Error` named `errorCode`.
 * - `reset`: RST_STREAM with INTERNAL_ERROR; the SDK throws `ERR_HTTP2_STREAM_ERROR`. Events written just before may be lost to the reader, as with a real reset.
 * - `stall`: nothing more is sent (no records, no idle events) while the stream stays open, until the
 *   client gives up or the subscription's lifetime ends it.
 * - `goaway`: GOAWAY with `code` (default 2) on the HTTP/2 session, destroyed 100 ms later; the SDK throws
 *   "Session closed with error code 2".
 * - `sessionError`: the TCP connection is destroyed without any HTTP/2 frame. The SDK then ends the
 *   iteration WITHOUT an error (or, if it comes while `send()` reads the first frame, `send()` fails): a
 *   consumer must treat an end that is neither the lifetime nor a shard end (ChildShards) as an interruption.
 * - `refuse`: the subscribe call itself fails with a JSON error response (`afterEvents` is ignored).
 */
export type SubscriptionFault =
  | { readonly kind: 'exception'; readonly exceptionType: string; readonly message: string }
  | { readonly kind: 'error'; readonly errorCode: string; readonly message: string }
  | { readonly kind: 'reset' }
  | { readonly kind: 'stall' }
  | { readonly kind: 'goaway'; readonly code: number }
  | { readonly kind: 'sessionError' }
  | {
      readonly kind: 'refuse';
      readonly statusCode: number;
      readonly errorType: string;
      readonly message: string;
    };

/** The subscription a rule looks at. */
export interface SubscriptionCall {
  readonly consumerName: string;
  readonly consumerArn: string;
  readonly shardId: string;
  /** 1 for the first SubscribeToShard the simulator answers, 2 for the next, ... */
  readonly subscription: number;
}

/** When a subscription gets a fault. Rules are tried in order when a subscription starts; the first that fires wins. */
export interface SubscriptionFaultRule {
  /** Name for the counters. @defaultValue `` `rule-${index}` `` */
  name?: string;
  /** Only subscriptions of this consumer (name). @defaultValue every consumer */
  consumerName?: string;
  /** Only subscriptions to this shard. @defaultValue every shard */
  shardId?: string;
  /** Further filter. @defaultValue every subscription */
  match?: (call: SubscriptionCall) => boolean;
  /** Let this many matching subscriptions through untouched first. @defaultValue `0` */
  skip?: number;
  /** Fire at most this many times in total. @defaultValue `Infinity` */
  times?: number;
  /** Chance (0 to 1, seeded) that a matching, eligible subscription gets the fault. @defaultValue `1` */
  probability?: number;
  /** SubscribeToShardEvents (records or idle) delivered before the fault, 0 to 1,000,000. @defaultValue `0` */
  afterEvents?: number;
  action: SubscriptionFault;
}

/** Faults the simulator injects into SubscribeToShard. */
export interface SubscriptionFaultPlan {
  /** Seed of every random choice. @defaultValue `1` */
  seed?: number;
  /** @defaultValue `[]` */
  rules?: readonly SubscriptionFaultRule[];
}

/** A fault chosen for one subscription. */
export interface ChosenFault {
  readonly rule: string;
  readonly action: SubscriptionFault;
  readonly afterEvents: number;
}

interface LiveRule {
  readonly name: string;
  readonly rule: SubscriptionFaultRule;
  readonly random: Random;
  matched: number;
  fired: number;
}

/** A compiled plan: validated at construction, with counters per rule. */
export class SubscriptionFaultPlanner {
  private readonly rules: LiveRule[];

  constructor(plan: SubscriptionFaultPlan = {}) {
    const seed = plan.seed ?? 1;
    this.rules = (plan.rules ?? []).map((rule, index) => {
      const name = rule.name ?? `rule-${index}`;
      checkFraction(rule.probability ?? 1, `${name}.probability`);
      if ((rule.skip ?? 0) < 0 || (rule.times ?? 0) < 0) {
        throw new FaultPlanError(`${name}: skip and times must not be negative`);
      }
      const after = rule.afterEvents ?? 0;
      if (!(Number.isInteger(after) && after >= 0 && after <= 1_000_000)) {
        throw new FaultPlanError(`${name}: afterEvents must be an integer 0..1,000,000, got ${after}`);
      }
      return { name, rule, random: seededRandom(deriveSeed(seed, index)), matched: 0, fired: 0 };
    });
  }

  /** The fault for a subscription that is starting, if a rule fires. */
  choose(call: SubscriptionCall): ChosenFault | undefined {
    for (const live of this.rules) {
      const { rule } = live;
      if (rule.consumerName !== undefined && rule.consumerName !== call.consumerName) continue;
      if (rule.shardId !== undefined && rule.shardId !== call.shardId) continue;
      if (rule.match && !rule.match(call)) continue;
      live.matched += 1;
      if (live.matched <= (rule.skip ?? 0)) continue;
      if (live.fired >= (rule.times ?? Number.POSITIVE_INFINITY)) continue;
      // Always draw, so whether a rule fires never depends on how often it was certain before.
      if (live.random() >= (rule.probability ?? 1)) continue;
      live.fired += 1;
      return { rule: live.name, action: rule.action, afterEvents: rule.afterEvents ?? 0 };
    }
    return undefined;
  }

  /** Subscriptions each rule matched and faulted. */
  counters(): Record<string, { matched: number; fired: number }> {
    return Object.fromEntries(this.rules.map((r) => [r.name, { matched: r.matched, fired: r.fired }]));
  }
}

const INTERNAL_ERROR = 2;

/** Ready-made subscription faults with the types and messages Kinesis sends. */
export const SubscriptionFaults = {
  exception(exceptionType: string, message: string): SubscriptionFault {
    return { kind: 'exception', exceptionType, message };
  },
  internalFailure(): SubscriptionFault {
    return {
      kind: 'exception',
      exceptionType: 'InternalFailureException',
      message: 'Internal service failure.',
    };
  },
  resourceNotFound(message = 'Requested resource not found.'): SubscriptionFault {
    return { kind: 'exception', exceptionType: 'ResourceNotFoundException', message };
  },
  resourceInUse(message = 'Another active subscription exists for this consumer.'): SubscriptionFault {
    return { kind: 'exception', exceptionType: 'ResourceInUseException', message };
  },
  /** `KMSThrottlingException`, `KMSAccessDeniedException`, `KMSDisabledException`, `KMSNotFoundException`, ... */
  kms(exceptionType = 'KMSThrottlingException', message = 'KMS request rate exceeded.'): SubscriptionFault {
    return { kind: 'exception', exceptionType, message };
  },
  error(errorCode = 'InternalError', message = 'An internal error occurred.'): SubscriptionFault {
    return { kind: 'error', errorCode, message };
  },
  reset(): SubscriptionFault {
    return { kind: 'reset' };
  },
  stall(): SubscriptionFault {
    return { kind: 'stall' };
  },
  goaway(code = INTERNAL_ERROR): SubscriptionFault {
    return { kind: 'goaway', code };
  },
  sessionError(): SubscriptionFault {
    return { kind: 'sessionError' };
  },
  /** The subscribe call fails before any event, for example 500 `InternalFailure` or 400 `LimitExceededException`. */
  refuse(
    statusCode = 500,
    errorType = 'InternalFailure',
    message = 'Internal service failure.',
  ): SubscriptionFault {
    return { kind: 'refuse', statusCode, errorType, message };
  },
} as const;
