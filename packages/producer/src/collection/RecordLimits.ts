import { LARGEST_MAX_RECORD_BYTES, type ResolvedOptions, requestLimitFor } from '../options.js';
import type { ShardMap } from '../routing/ShardMap.js';
import { RequestBuilder } from './RequestBuilder.js';

/**
 * The size limits records and requests are held to: the largest record `put` accepts now (the option, else
 * the stream's limit once DescribeStreamSummary answered), and request builders shaped for that limit.
 */
export class RecordLimits {
  constructor(
    private readonly options: ResolvedOptions,
    private readonly shardMap: ShardMap,
  ) {}

  /**
   * The largest record `put` accepts now: the `maxRecordBytes` option, else the stream's limit once
   * DescribeStreamSummary answered, else (before that) the largest any stream allows; records above 1 MiB
   * put before the answer are checked when it comes (see MapEvents).
   */
  recordLimit(): number {
    const o = this.options;
    if (!o.maxRecordBytesFromStream) return o.maxRecordBytes;
    return this.shardMap.limits?.maxRecordBytes ?? LARGEST_MAX_RECORD_BYTES;
  }

  /** {@link recordLimitName}, bound once: `put` passes it and calls it only for an error message. */
  readonly limitName = (): string => this.recordLimitName();

  recordLimitName(): string {
    if (!this.options.maxRecordBytesFromStream) return 'maxRecordBytes';
    const limits = this.shardMap.limits;
    if (limits === undefined) return 'the largest record size of any stream';
    return limits.assumedBecause === undefined
      ? "the stream's maximum record size (DescribeStreamSummary MaxRecordSizeInKiB)"
      : `the default maximum record size (DescribeStreamSummary failed: ${limits.assumedBecause})`;
  }

  newRequestBuilder(recordLimit: number): RequestBuilder {
    const o = this.options;
    const requestLimitBytes = requestLimitFor(recordLimit);
    return new RequestBuilder({
      maxCount: o.collectionMaxCount,
      maxBytes: o.collectionMaxBytesSet
        ? Math.min(o.collectionMaxBytes, requestLimitBytes)
        : requestLimitBytes,
      requestLimitBytes,
      aggregation: o.aggregation,
      aggregationMaxBytes: o.aggregationMaxBytes,
      aggregationMaxRecords: o.aggregationMaxRecords,
      maxRecordBytes: recordLimit,
      ordered: o.ordered,
    });
  }
}
