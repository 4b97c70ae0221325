import type {
  KinesisClient,
  PutRecordsCommandOutput,
  PutRecordsRequestEntry,
  PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import {
  type Args,
  controller,
  type FaultController,
  type InjectorState,
  install,
  type Next,
  operationOf,
} from './inject.js';
import { deriveSeed, seededRandom } from './prng.js';
import { checkFraction, compileRules, type FaultRule } from './rules.js';

/**
 * Per-entry failures inside a 200 PutRecords response, as Kinesis reports throttling and internal errors.
 * Chosen entries never reach the server; the rest are sent on in one request and the answers are merged
 * back in request order, with `FailedRecordCount` counting both.
 */
export interface PutRecordsEntryFaults {
  /** Fraction (0 to 1, seeded) of entries answered `ProvisionedThroughputExceededException`. @defaultValue `0` */
  throughputExceeded?: number;
  /** Fraction (0 to 1, seeded) of entries answered `InternalFailure`. @defaultValue `0` */
  internalFailure?: number;
  /** Only entries for which this returns true may fail. @defaultValue every entry */
  match?: (entry: PutRecordsRequestEntry, index: number) => boolean;
  /** Fail at most this many entries in total. @defaultValue `Infinity` */
  maxFailures?: number;
}

/** Faults for a Kinesis client. */
export interface KinesisFaultPlan {
  /** Seed of every random choice. @defaultValue `1` */
  seed?: number;
  /** Per-entry PutRecords failures (decided once per `send`, not per SDK retry). @defaultValue none */
  putRecordsEntries?: PutRecordsEntryFaults;
  /** Whole-attempt faults (errors, delays, timeouts, resets), tried in order. @defaultValue `[]` */
  rules?: readonly FaultRule[];
}

const ACCOUNT = '000000000000';
type EntryError = 'ProvisionedThroughputExceededException' | 'InternalFailure';

/**
 * Adds fault-injecting middleware to a real `KinesisClient` (the code under test keeps using the client
 * as usual). Remove it with the returned controller's `remove()`.
 */
export function injectKinesisFaults(
  client: KinesisClient,
  plan: KinesisFaultPlan = {},
): FaultController<KinesisFaultPlan> {
  let entries = compileEntries(plan);
  const installed = install(
    client,
    'application/x-amz-json-1.1',
    plan.rules ?? [],
    plan.seed ?? 1,
    (state) =>
      // Runs once per send: decide which entries fail, send the survivors on, merge the answers back.
      (next, context) =>
      async (args) => {
        state.counters.calls += 1;
        const records = args.input.Records as PutRecordsRequestEntry[] | undefined;
        if (state.paused || !entries || operationOf(context) !== 'PutRecords' || !Array.isArray(records)) {
          return next(args);
        }
        return failEntries(state, entries, records, args, next);
      },
  );
  return controller(installed, (next: KinesisFaultPlan) => {
    installed.state.rules = compileRules(next.rules ?? [], next.seed ?? 1);
    entries = compileEntries(next);
  });
}

interface CompiledEntries {
  readonly throughputExceeded: number;
  readonly internalFailure: number;
  readonly match: ((entry: PutRecordsRequestEntry, index: number) => boolean) | undefined;
  readonly maxFailures: number;
  readonly random: () => number;
  failed: number;
}

function compileEntries(plan: KinesisFaultPlan): CompiledEntries | undefined {
  const spec = plan.putRecordsEntries;
  if (!spec) return undefined;
  const throughputExceeded = spec.throughputExceeded ?? 0;
  const internalFailure = spec.internalFailure ?? 0;
  checkFraction(throughputExceeded, 'putRecordsEntries.throughputExceeded');
  checkFraction(internalFailure, 'putRecordsEntries.internalFailure');
  checkFraction(throughputExceeded + internalFailure, 'putRecordsEntries fractions together');
  return {
    throughputExceeded,
    internalFailure,
    match: spec.match,
    maxFailures: spec.maxFailures ?? Number.POSITIVE_INFINITY,
    // Stream 1000 is reserved for entries, apart from the rules' streams (0, 1, 2, ...).
    random: seededRandom(deriveSeed(plan.seed ?? 1, 1_000)),
    failed: 0,
  };
}

async function failEntries(
  state: InjectorState,
  spec: CompiledEntries,
  records: PutRecordsRequestEntry[],
  args: Args,
  next: Next,
): Promise<{ output: PutRecordsCommandOutput; response?: unknown }> {
  const counters = state.counters.entries;
  const decisions: Array<EntryError | undefined> = records.map((entry, index) => {
    // One draw per entry, whether or not it is eligible, so decisions depend only on position and seed.
    const draw = spec.random();
    if (spec.failed >= spec.maxFailures || (spec.match && !spec.match(entry, index))) return undefined;
    if (draw >= spec.throughputExceeded + spec.internalFailure) return undefined;
    spec.failed += 1;
    if (draw < spec.throughputExceeded) {
      counters.throughputExceeded += 1;
      return 'ProvisionedThroughputExceededException';
    }
    counters.internalFailure += 1;
    return 'InternalFailure';
  });
  counters.seen += records.length;
  const survivors = records.filter((_, index) => decisions[index] === undefined);
  counters.forwarded += survivors.length;

  const result =
    survivors.length === 0
      ? { output: emptyOutput(), response: undefined }
      : await next({ ...args, input: { ...args.input, Records: survivors } });
  const output = (result.output ?? emptyOutput()) as PutRecordsCommandOutput;
  const answered = output.Records ?? [];
  const stream = String(args.input.StreamName ?? args.input.StreamARN ?? '');
  let survivor = 0;
  let failed = 0;
  const merged: PutRecordsResultEntry[] = decisions.map((decision) => {
    const entry: PutRecordsResultEntry =
      decision === undefined
        ? (answered[survivor++] ?? {
            ErrorCode: 'InternalFailure',
            ErrorMessage: 'Internal service failure.',
          })
        : decision === 'InternalFailure'
          ? { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal service failure.' }
          : {
              ErrorCode: 'ProvisionedThroughputExceededException',
              ErrorMessage: `Rate exceeded for shard in stream ${stream} under account ${ACCOUNT}.`,
            };
    if (entry.ErrorCode) failed += 1;
    return entry;
  });
  return { ...result, output: { ...output, FailedRecordCount: failed, Records: merged } };
}

function emptyOutput(): PutRecordsCommandOutput {
  return {
    $metadata: { httpStatusCode: 200, requestId: 'shardline-injected', attempts: 1, totalRetryDelay: 0 },
    FailedRecordCount: 0,
    Records: [],
    EncryptionType: 'NONE',
  };
}
