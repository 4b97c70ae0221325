/**
 * Lease keys and shard ids, kept apart. In a single-stream application (the KCL's default) a lease key *is*
 * the shard id. In a multi-stream application (the KCL's `MultiStreamLease`) it is
 * `accountId:streamName:creationEpoch:shardId`, and the item also carries `streamName` (the serialized stream
 * identifier, `accountId:streamName:creationEpoch`, so named for legacy reasons) and `shardId`. Parent and
 * child shard ids (`parentShardId`, `childShardIds`) are plain shard ids in both formats. Every conversion
 * between the two goes through this file.
 */

/** The table's hash key: a shard id (single-stream) or `accountId:streamName:creationEpoch:shardId`. */
export type LeaseKey = string;

/** A stream as the KCL identifies it in a multi-stream lease table. */
export interface StreamIdentity {
  /** 12-digit AWS account id, from the stream's ARN. */
  readonly accountId: string;
  readonly streamName: string;
  /** The stream's creation time in whole seconds since the epoch (DescribeStreamSummary's StreamCreationTimestamp). */
  readonly creationEpoch: number;
}

/** A shard and the stream it belongs to; `streamId` is `undefined` in a single-stream application. */
export interface StreamShard {
  /** Serialized {@link StreamIdentity} (`accountId:streamName:creationEpoch`), or `undefined` (single-stream). */
  readonly streamId: string | undefined;
  readonly shardId: string;
}

// As the KCL's StreamIdentifier parses them: stream names never contain ':' (Kinesis allows a-zA-Z0-9_.-).
const STREAM_ID = /^([0-9]+):([^:]+):([0-9]+)$/;
const MULTI_STREAM_KEY = /^([0-9]+:[^:]+:[0-9]+):(.+)$/;
const STREAM_ARN = /^arn:aws[^:]*:kinesis:([-a-z0-9]+):([0-9]{12}):stream\/(.+)$/;

/** `accountId:streamName:creationEpoch`, the KCL's `StreamIdentifier.serialize()` in multi-stream mode. */
export function serializeStreamIdentity(identity: StreamIdentity): string {
  return `${identity.accountId}:${identity.streamName}:${identity.creationEpoch}`;
}

/** The inverse of {@link serializeStreamIdentity}; `undefined` for anything else. */
export function parseStreamIdentity(serialized: string): StreamIdentity | undefined {
  const match = STREAM_ID.exec(serialized);
  if (!match) return undefined;
  const creationEpoch = Number(match[3]);
  if (!Number.isSafeInteger(creationEpoch) || creationEpoch <= 0) return undefined;
  return { accountId: match[1] as string, streamName: match[2] as string, creationEpoch };
}

/** The stream's identity from its ARN and creation time (truncated to whole seconds, as the KCL does). */
export function streamIdentityOf(streamARN: string, createdAt: Date): StreamIdentity | undefined {
  const arn = parseStreamArn(streamARN);
  const creationEpoch = Math.floor(createdAt.getTime() / 1000);
  if (!arn || !Number.isSafeInteger(creationEpoch) || creationEpoch <= 0) return undefined;
  return { accountId: arn.accountId, streamName: arn.streamName, creationEpoch };
}

/** Region, account and name of a Kinesis stream ARN; `undefined` when it is not one. */
export function parseStreamArn(
  streamARN: string,
): { region: string; accountId: string; streamName: string } | undefined {
  const match = STREAM_ARN.exec(streamARN);
  if (!match) return undefined;
  return { region: match[1] as string, accountId: match[2] as string, streamName: match[3] as string };
}

/** The lease key of a shard: its id (single-stream) or `streamId:shardId` (the KCL's `MultiStreamLease.getLeaseKey`). */
export function leaseKeyOf(shard: StreamShard): LeaseKey {
  return shard.streamId === undefined ? shard.shardId : `${shard.streamId}:${shard.shardId}`;
}

/**
 * The shard behind a lease key. A key in the multi-stream format is read as one; any other key is a
 * single-stream shard id.
 */
export function shardOf(leaseKey: LeaseKey): StreamShard {
  const match = MULTI_STREAM_KEY.exec(leaseKey);
  if (match && parseStreamIdentity(match[1] as string))
    return { streamId: match[1] as string, shardId: match[2] as string };
  return { streamId: undefined, shardId: leaseKey };
}
