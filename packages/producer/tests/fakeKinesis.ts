// A fake Kinesis data plane for unit tests: ListShards and PutRecords only, hash-range routing, scripted
// failures. Integration tests use kinesis-local through the real SDK instead.
import {
  type KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
  type PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import { partitionKeyHash } from '@shardline/aggregation';

export const MAX_KEY = (1n << 128n) - 1n;

export interface FakeShard {
  shardId: string;
  start: bigint;
  end: bigint;
  open: boolean;
}

export interface StoredEntry {
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  explicitHashKey: string | undefined;
  data: Uint8Array;
}

/** Decides an entry's fate: undefined = accept, else the per-entry error code. */
export type EntryFault = (entry: PutRecordsRequestEntry, index: number, call: number) => string | undefined;
/** Decides a whole call's fate: undefined = answer, else an error to throw. */
export type CallFault = (call: number) => Error | undefined;

/** Splits the hash key space evenly into `count` open shards. */
export function evenShards(count: number): FakeShard[] {
  const shards: FakeShard[] = [];
  const width = (MAX_KEY + 1n) / BigInt(count);
  for (let i = 0; i < count; i++) {
    shards.push({
      shardId: `shardId-${String(i).padStart(12, '0')}`,
      start: width * BigInt(i),
      end: i === count - 1 ? MAX_KEY : width * BigInt(i + 1) - 1n,
      open: true,
    });
  }
  return shards;
}

export class FakeKinesis {
  shards: FakeShard[];
  readonly stored: StoredEntry[] = [];
  putCalls = 0;
  listCalls = 0;
  /** Entries per PutRecords call, for limit assertions. */
  readonly requests: PutRecordsRequestEntry[][] = [];
  entryFault: EntryFault | undefined;
  callFault: CallFault | undefined;
  listFault: ((call: number) => Error | undefined) | undefined;
  /** Milliseconds each PutRecords call takes. */
  latencyMs = 0;
  /** Page size of ListShards. */
  pageSize = 2;
  private sequence = 10n ** 55n;
  readonly config = { maxAttempts: async () => 1 };

  /** Makes the fake look like a client with the SDK's default retries. */
  retriesOnItsOwn(attempts: number): void {
    this.config.maxAttempts = async () => attempts;
  }

  constructor(shards: FakeShard[] = evenShards(2)) {
    this.shards = shards;
  }

  get client(): KinesisClient {
    return this as unknown as KinesisClient;
  }

  async send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown> {
    if (command instanceof ListShardsCommand) return this.listShards(command);
    if (command instanceof PutRecordsCommand) return this.putRecords(command, options?.abortSignal);
    throw new Error('FakeKinesis: unsupported command');
  }

  split(shardId: string, childIds: [string, string]): void {
    const parent = this.shards.find((shard) => shard.shardId === shardId);
    if (parent === undefined) throw new Error('no such shard');
    parent.open = false;
    const middle = parent.start + (parent.end - parent.start) / 2n;
    this.shards.push(
      { shardId: childIds[0], start: parent.start, end: middle, open: true },
      { shardId: childIds[1], start: middle + 1n, end: parent.end, open: true },
    );
  }

  private async listShards(command: ListShardsCommand): Promise<unknown> {
    this.listCalls += 1;
    const fault = this.listFault?.(this.listCalls);
    if (fault !== undefined) throw fault;
    // As Kinesis: every shard within retention by default, only open ones with AT_LATEST; the token carries
    // the filter.
    const { NextToken, ShardFilter } = command.input;
    const [position, filter] = (NextToken ?? `0:${ShardFilter?.Type ?? 'FROM_TRIM_HORIZON'}`).split(':');
    const listed = filter === 'AT_LATEST' ? this.shards.filter((shard) => shard.open) : this.shards;
    const from = Number(position);
    const page = listed.slice(from, from + this.pageSize);
    const next = from + this.pageSize < listed.length ? `${from + this.pageSize}:${filter}` : undefined;
    return {
      Shards: page.map((shard) => ({
        ShardId: shard.shardId,
        HashKeyRange: { StartingHashKey: shard.start.toString(), EndingHashKey: shard.end.toString() },
        SequenceNumberRange: shard.open
          ? { StartingSequenceNumber: '1' }
          : { StartingSequenceNumber: '1', EndingSequenceNumber: '2' },
      })),
      NextToken: next,
      $metadata: {},
    };
  }

  private async putRecords(command: PutRecordsCommand, signal: AbortSignal | undefined): Promise<unknown> {
    this.putCalls += 1;
    const call = this.putCalls;
    const entries = await sentEntries(command);
    this.requests.push(entries);
    if (this.latencyMs > 0) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, this.latencyMs);
        signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
        });
      });
    }
    const fault = this.callFault?.(call);
    if (fault !== undefined) throw fault;
    let failed = 0;
    const results: PutRecordsResultEntry[] = entries.map((entry, index) => {
      const code = this.entryFault?.(entry, index, call);
      if (code !== undefined) {
        failed += 1;
        return { ErrorCode: code, ErrorMessage: `injected ${code}` };
      }
      const key =
        entry.ExplicitHashKey !== undefined
          ? BigInt(entry.ExplicitHashKey)
          : partitionKeyHash(entry.PartitionKey ?? '');
      const shard = this.shards.find((s) => s.open && key >= s.start && key <= s.end);
      if (shard === undefined) throw new Error('FakeKinesis: no open shard for key');
      this.sequence += 1n;
      const sequenceNumber = this.sequence.toString();
      this.stored.push({
        shardId: shard.shardId,
        sequenceNumber,
        partitionKey: entry.PartitionKey ?? '',
        explicitHashKey: entry.ExplicitHashKey,
        data: entry.Data ?? new Uint8Array(),
      });
      return { ShardId: shard.shardId, SequenceNumber: sequenceNumber };
    });
    return { FailedRecordCount: failed, Records: results, $metadata: { attempts: 1 } };
  }
}

/**
 * The entries a PutRecords command sends. The producer sends its own body (putRecordsBody.ts) through
 * middlewares on the command: running the command's own middlewares on a request as the SDK's JSON serializer
 * leaves it, and decoding the body they put in, checks that body in every unit test (and fails loudly if the
 * producer stops putting one in).
 */
async function sentEntries(command: PutRecordsCommand): Promise<PutRecordsRequestEntry[]> {
  let body: unknown;
  const handler = command.middlewareStack.resolve(async (args) => {
    body = (args.request as { body: unknown }).body;
    return { output: {} as never, response: {} };
  }, {});
  const request = { headers: { 'content-type': 'application/x-amz-json-1.1' }, body: undefined };
  await handler({ input: command.input, request } as never);
  if (!(body instanceof Uint8Array)) throw new Error('FakeKinesis: the command put no PutRecords body in');
  const json = JSON.parse(Buffer.from(body).toString('utf8')) as {
    Records: { Data: string; PartitionKey: string; ExplicitHashKey?: string }[];
  };
  return json.Records.map((record) => ({
    Data: Buffer.from(record.Data, 'base64'),
    PartitionKey: record.PartitionKey,
    ExplicitHashKey: record.ExplicitHashKey,
  }));
}

/** A service exception as the SDK throws it. */
export function serviceError(name: string, status: number, fault: 'client' | 'server'): Error {
  return Object.assign(new Error(`injected ${name}`), {
    name,
    $fault: fault,
    $metadata: { httpStatusCode: status, attempts: 1 },
  });
}
