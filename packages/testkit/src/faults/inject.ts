import { errorResponse, type FaultAction, type FaultCall, resetError, timeoutError } from './actions.js';
import { compileRules, type FaultRule, fires, type LiveRule } from './rules.js';

/** What a controller has seen and injected so far. */
export interface FaultCounters {
  /** Commands sent through the client (`send` calls). */
  calls: number;
  /** HTTP attempts (the SDK's retries count separately). */
  attempts: number;
  /** Faults injected, by rule name. */
  byRule: Record<string, number>;
  /** Faults injected, by kind. */
  byKind: Record<FaultAction['kind'], number>;
  /** PutRecords entry faults (Kinesis only). */
  entries: {
    /** Entries of PutRecords calls seen. */
    seen: number;
    /** Entries passed on to the server. */
    forwarded: number;
    /** Entries answered with `ProvisionedThroughputExceededException` without reaching the server. */
    throughputExceeded: number;
    /** Entries answered with `InternalFailure` without reaching the server. */
    internalFailure: number;
  };
}

/** Changes or stops the faults of one client. */
export interface FaultController<Plan> {
  /** A snapshot of the counters. */
  counters(): FaultCounters;
  /** Replaces the plan (rules restart their counters and random streams; the totals are kept). */
  setPlan(plan: Plan): void;
  /** Lets everything through until {@link FaultController.resume}. */
  pause(): void;
  resume(): void;
  /** Takes the middleware off the client. Safe to call twice. */
  remove(): void;
}

/** Middleware signatures, loosely typed: this module works for any SDK v3 client. */
export interface Args {
  input: Record<string, unknown>;
  request?: { headers?: Record<string, string> };
}
export interface Result {
  output?: unknown;
  response?: unknown;
}
export type Next = (args: Args) => Promise<Result>;
type Middleware = (next: Next, context: { commandName?: string }) => Next;
interface LooseStack {
  add(
    middleware: Middleware,
    options: { step: string; priority: string; name: string; tags: string[] },
  ): void;
  remove(name: string): boolean;
}

/** Shared, mutable state of one installation. */
export interface InjectorState {
  rules: LiveRule[];
  paused: boolean;
  readonly counters: FaultCounters;
}

let installations = 0;
let injectedRequests = 0;

export function newCounters(): FaultCounters {
  return {
    calls: 0,
    attempts: 0,
    byRule: {},
    byKind: { serviceError: 0, delay: 0, timeout: 0, reset: 0, hook: 0 },
    entries: { seen: 0, forwarded: 0, throughputExceeded: 0, internalFailure: 0 },
  };
}

export function operationOf(context: { commandName?: string }): string {
  return (context.commandName ?? 'Unknown').replace(/Command$/, '');
}

/**
 * Adds the attempt-level fault middleware to `client`. It sits in the `deserialize` step, inside the SDK's
 * deserializer and after retry and signing: each retry is a new attempt the rules see, and a faked error
 * response is turned into the SDK's typed exception by the SDK itself. `outer` (optional) is added in the
 * `initialize` step, once per `send`, for faults that rewrite the input (PutRecords entries).
 */
export function install(
  client: { middlewareStack: unknown },
  contentType: string,
  rules: readonly FaultRule[],
  seed: number,
  outer?: (state: InjectorState) => Middleware,
): { state: InjectorState; uninstall(): void } {
  const stack = client.middlewareStack as LooseStack;
  installations += 1;
  const names = [`shardlineFaultsAttempt${installations}`, `shardlineFaultsCall${installations}`] as const;
  const state: InjectorState = { rules: compileRules(rules, seed), paused: false, counters: newCounters() };

  const attemptMiddleware: Middleware = (next, context) => async (args) => {
    state.counters.attempts += 1;
    if (state.paused) return next(args);
    const call: FaultCall = {
      operation: operationOf(context),
      input: args.input,
      attempt: attemptOf(args),
    };
    for (const live of state.rules) {
      if (!fires(live, call)) continue;
      const action = live.rule.action;
      state.counters.byRule[live.name] = (state.counters.byRule[live.name] ?? 0) + 1;
      state.counters.byKind[action.kind] += 1;
      // Delays and hooks let the attempt go on to later rules; the others end it.
      if (action.kind === 'delay') await sleep(action.ms);
      else if (action.kind === 'hook') await action.run(call);
      else return endAttempt(action, next, args, contentType);
    }
    return next(args);
  };
  stack.add(attemptMiddleware, {
    step: 'deserialize',
    priority: 'low',
    name: names[0],
    tags: ['SHARDLINE_FAULTS'],
  });
  if (outer) {
    stack.add(outer(state), {
      step: 'initialize',
      priority: 'high',
      name: names[1],
      tags: ['SHARDLINE_FAULTS'],
    });
  }
  let removed = false;
  return {
    state,
    uninstall() {
      if (removed) return;
      removed = true;
      stack.remove(names[0]);
      if (outer) stack.remove(names[1]);
    },
  };
}

async function endAttempt(action: FaultAction, next: Next, args: Args, contentType: string): Promise<Result> {
  switch (action.kind) {
    case 'serviceError':
      injectedRequests += 1;
      return { response: errorResponse(action, contentType, `shardline-injected-${injectedRequests}`) };
    case 'timeout':
      if (action.reachesServer) await discard(next(args));
      else await sleep(action.afterMs);
      throw timeoutError(action.afterMs);
    case 'reset':
      if (action.reachesServer) await discard(next(args));
      throw resetError();
    default:
      return next(args);
  }
}

/** Sends the request for real and throws its response away, so the server acted but the caller never hears. */
async function discard(sent: Promise<Result>): Promise<void> {
  try {
    const { response } = await sent;
    const body = (response as { body?: { resume?: () => void } } | undefined)?.body;
    body?.resume?.();
  } catch {
    // The caller gets the injected network error either way.
  }
}

function attemptOf(args: Args): number {
  const header = args.request?.headers?.['amz-sdk-request'] ?? '';
  const match = /attempt=(\d+)/.exec(header);
  return match?.[1] ? Number(match[1]) : 1;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Builds the public controller over an installation. */
export function controller<Plan>(
  installed: { state: InjectorState; uninstall(): void },
  apply: (plan: Plan) => void,
): FaultController<Plan> {
  const { state } = installed;
  return {
    counters: () => structuredClone(state.counters),
    setPlan: apply,
    pause() {
      state.paused = true;
    },
    resume() {
      state.paused = false;
    },
    remove: () => installed.uninstall(),
  };
}
