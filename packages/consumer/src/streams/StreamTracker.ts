import {
  DescribeStreamSummaryCommand,
  type DescribeStreamSummaryCommandOutput,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { ConfigurationError, StreamError } from '../errors.js';
import { serializeStreamIdentity, streamIdentityOf } from '../leases/leaseKeys.js';
import type { InitialPosition, StreamRef } from '../types.js';

/** One stream of a multi-stream application: a name or an ARN, and where its new shards start. */
export interface StreamSpec {
  /** The stream by name (in the account of the Kinesis client). Give this or `streamARN`. */
  streamName?: string | undefined;
  /** The stream by ARN. Give this or `streamName`. */
  streamARN?: string | undefined;
  /** Where this stream's shards without a checkpoint start. @defaultValue the consumer's `initialPosition` */
  initialPosition?: InitialPosition | undefined;
}

/** The streams as listed: each a name, an ARN (a string starting with `arn:`) or a {@link StreamSpec}. */
export type StreamList = readonly (string | StreamSpec)[];

/** A fixed list, or a function returning the current list (read again every `streamListIntervalMs`). */
export type StreamListSource = StreamList | (() => StreamList | Promise<StreamList>);

/** A listed stream, resolved with DescribeStreamSummary. */
export interface TrackedStream {
  /** The KCL stream identifier `accountId:streamName:creationEpoch` its lease keys start with. */
  readonly id: string;
  readonly streamName: string;
  readonly streamARN: string;
  /** How Kinesis calls address it: by ARN, which also reaches streams of other accounts. */
  readonly ref: StreamRef;
  readonly initialPosition: InitialPosition;
}

/** Options for {@link StreamTracker}. */
export interface StreamTrackerOptions {
  kinesis: KinesisClient;
  source: StreamListSource;
  initialPosition: InitialPosition;
  /** How long a stream seen in the lease table stays unlisted before its leases are due for deletion. */
  gracePeriodMs: number;
  now: () => number;
  signal?: AbortSignal | undefined;
}

/** What one {@link StreamTracker.refresh} changed, and the streams it could not resolve. */
export interface StreamChanges {
  added: TrackedStream[];
  removed: TrackedStream[];
  failures: StreamError[];
}

/**
 * The streams of a multi-stream application: the current list (read again on each refresh) resolved to KCL
 * stream identifiers, streams taken off the list (still served during the grace period, as the KCL does), and
 * the former streams whose leases are due for deletion: in the lease table, not listed, for `gracePeriodMs`
 * by this worker's clock (the KCL's `FormerStreamsLeasesDeletionStrategy` with auto-detection). The grace
 * period gives workers whose lists lag behind time to catch up before anything is deleted.
 */
export class StreamTracker {
  readonly #options: StreamTrackerOptions;
  /** Listed streams by how the list names them (name or ARN); each described once. */
  readonly #listed = new Map<string, TrackedStream>();
  /** Streams taken off the list, by identifier, still served until their leases are deleted. */
  readonly #removed = new Map<string, TrackedStream>();
  /** Stream identifiers not listed: since when (local clock). */
  readonly #unlistedSince = new Map<string, number>();

  constructor(options: StreamTrackerOptions) {
    this.#options = options;
  }

  /** The streams listed now. */
  active(): TrackedStream[] {
    return [...this.#listed.values()];
  }

  /** A listed stream, or one taken off the list whose leases are not deleted yet. */
  byId(id: string): TrackedStream | undefined {
    for (const stream of this.#listed.values()) if (stream.id === id) return stream;
    return this.#removed.get(id);
  }

  /**
   * Reads the list and describes the streams new to it. A list that cannot be read or is invalid throws a
   * `ConfigurationError` (or the function's own error) and changes nothing; a stream that cannot be described
   * is left out of this round (and tried again on the next) and returned among `failures`.
   */
  async refresh(): Promise<StreamChanges> {
    const { source } = this.#options;
    const list = typeof source === 'function' ? await source() : source;
    const specs = normalize(list, this.#options.initialPosition);
    const changes: StreamChanges = { added: [], removed: [], failures: [] };
    for (const [label, spec] of specs) {
      if (this.#listed.has(label)) continue;
      try {
        const stream = await this.#describe(spec);
        this.#listed.set(label, stream);
        this.#removed.delete(stream.id);
        changes.added.push(stream);
      } catch (error) {
        if (this.#options.signal?.aborted) throw error;
        changes.failures.push(error instanceof StreamError ? error : new StreamError(label, error));
      }
    }
    for (const [label, stream] of this.#listed) {
      if (specs.has(label)) continue;
      this.#listed.delete(label);
      if (this.byId(stream.id)) continue; // still listed under another name (its ARN, say)
      this.#removed.set(stream.id, stream);
      changes.removed.push(stream);
    }
    const now = this.#options.now();
    for (const stream of this.#listed.values()) this.#unlistedSince.delete(stream.id);
    for (const stream of changes.removed)
      if (!this.#unlistedSince.has(stream.id)) this.#unlistedSince.set(stream.id, now);
    return changes;
  }

  /**
   * The identifiers among `inTable` (the streams the lease table has leases of) not listed for at least the
   * grace period. Identifiers no longer in the table are forgotten (their leases are gone).
   */
  formerStreamsDue(inTable: ReadonlySet<string>): string[] {
    const now = this.#options.now();
    const listed = new Set([...this.#listed.values()].map((stream) => stream.id));
    const due: string[] = [];
    for (const id of inTable) {
      if (listed.has(id)) continue;
      const since = this.#unlistedSince.get(id) ?? now;
      this.#unlistedSince.set(id, since);
      if (now - since >= this.#options.gracePeriodMs) due.push(id);
    }
    for (const id of this.#unlistedSince.keys()) {
      if (inTable.has(id) || listed.has(id)) continue;
      this.#unlistedSince.delete(id);
      this.#removed.delete(id);
    }
    return due;
  }

  async #describe(spec: ResolvedSpec): Promise<TrackedStream> {
    let response: DescribeStreamSummaryCommandOutput;
    try {
      response = await this.#options.kinesis.send(new DescribeStreamSummaryCommand({ ...spec.ref }), {
        abortSignal: this.#options.signal,
      });
    } catch (error) {
      throw new StreamError(`stream ${spec.label}: DescribeStreamSummary failed`, error);
    }
    const summary = response.StreamDescriptionSummary;
    const identity =
      summary?.StreamARN && summary.StreamCreationTimestamp
        ? streamIdentityOf(summary.StreamARN, summary.StreamCreationTimestamp)
        : undefined;
    if (!summary?.StreamARN || !identity) {
      throw new StreamError(
        `stream ${spec.label}: DescribeStreamSummary gave no usable StreamARN and StreamCreationTimestamp`,
        undefined,
      );
    }
    return {
      id: serializeStreamIdentity(identity),
      streamName: identity.streamName,
      streamARN: summary.StreamARN,
      ref: { StreamARN: summary.StreamARN },
      initialPosition: spec.initialPosition,
    };
  }
}

interface ResolvedSpec {
  label: string;
  ref: StreamRef;
  initialPosition: InitialPosition;
}

const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;

/** Validates a list (from the options or the list function) into specs by label; throws `ConfigurationError`. */
export function normalize(list: unknown, fallback: InitialPosition): Map<string, ResolvedSpec> {
  if (!Array.isArray(list))
    throw new ConfigurationError(
      'streams must be an array of stream names, ARNs or { streamName | streamARN }',
    );
  if (list.length > 10_000)
    throw new ConfigurationError(`streams lists at most 10,000 streams (got ${list.length})`);
  const specs = new Map<string, ResolvedSpec>();
  for (const entry of list as unknown[]) {
    const spec: StreamSpec =
      typeof entry === 'string'
        ? entry.startsWith('arn:')
          ? { streamARN: entry }
          : { streamName: entry }
        : typeof entry === 'object' && entry !== null
          ? (entry as StreamSpec)
          : {};
    const name = spec.streamName;
    const arn = spec.streamARN;
    if ((name === undefined) === (arn === undefined))
      throw new ConfigurationError('each entry of streams needs exactly one of streamName and streamARN');
    if (name !== undefined && (typeof name !== 'string' || !STREAM_NAME.test(name)))
      throw new ConfigurationError(`streams: ${JSON.stringify(name)} is not a stream name`);
    if (arn !== undefined && (typeof arn !== 'string' || !/^arn:aws[^:]*:kinesis:/.test(arn)))
      throw new ConfigurationError(`streams: ${JSON.stringify(arn)} is not a Kinesis stream ARN`);
    const initialPosition = spec.initialPosition ?? fallback;
    if (!isInitialPosition(initialPosition))
      throw new ConfigurationError(
        `streams: initialPosition of ${name ?? arn} must be 'LATEST', 'TRIM_HORIZON' or { timestamp: Date }`,
      );
    const label = (name ?? arn) as string;
    specs.set(label, {
      label,
      ref: name !== undefined ? { StreamName: name } : { StreamARN: arn as string },
      initialPosition,
    });
  }
  return specs;
}

export function isInitialPosition(value: unknown): value is InitialPosition {
  return (
    value === 'LATEST' ||
    value === 'TRIM_HORIZON' ||
    (typeof value === 'object' &&
      value !== null &&
      'timestamp' in value &&
      value.timestamp instanceof Date &&
      !Number.isNaN(value.timestamp.getTime()))
  );
}
