import {
  type KinesisClient,
  PutRecordsCommand,
  RegisterStreamConsumerCommand,
  type StartingPosition,
  SubscribeToShardCommand,
  type SubscribeToShardEvent,
} from '@aws-sdk/client-kinesis';
import type { KinesisSimulator } from '../src/index.js';

/** Polls `check` until it returns true, at most `timeoutMs` (a bound, never a timing assertion). */
export async function waitFor(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function errorOf(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

export async function putRecords(
  client: KinesisClient,
  stream: string,
  prefix: string,
  count: number,
  size = 0,
) {
  // Requests stay under the 5 MiB PutRecords limit.
  const perRequest = size > 0 ? Math.min(500, Math.floor((4 * 1024 * 1024) / size)) : 500;
  for (let start = 0; start < count; start += perRequest) {
    const n = Math.min(perRequest, count - start);
    const response = await client.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: Array.from({ length: n }, (_, i) => ({
          PartitionKey: `${prefix}-${start + i}`,
          ExplicitHashKey: '0',
          Data: size > 0 ? Buffer.alloc(size, 7) : Buffer.from(`${prefix}-${start + i}`),
        })),
      }),
    );
    if (response.FailedRecordCount !== 0) throw new Error('put failed');
  }
}

/** Registers a consumer and returns its ARN (the simulator under test activates consumers at once). */
export async function registerConsumer(
  sim: KinesisSimulator,
  client: KinesisClient,
  stream: string,
  name: string,
): Promise<string> {
  const { Consumer } = await client.send(
    new RegisterStreamConsumerCommand({
      StreamARN: `arn:aws:kinesis:${sim.region}:000000000000:stream/${stream}`,
      ConsumerName: name,
    }),
  );
  if (!Consumer?.ConsumerARN) throw new Error('no consumer ARN');
  return Consumer.ConsumerARN;
}

/** An open subscription read in the background: its events, how it ended, and a way to end it. */
export interface Reader {
  readonly events: SubscribeToShardEvent[];
  /** Data of every record, in order. */
  readonly data: string[];
  /** Resolves with undefined when the iteration ended cleanly, or with the error it threw. */
  readonly ended: Promise<Error | undefined>;
  done: boolean;
  abort(): void;
}

export async function subscribe(
  client: KinesisClient,
  consumerArn: string,
  shardId: string,
  position: StartingPosition,
): Promise<Reader> {
  const controller = new AbortController();
  const response = await client.send(
    new SubscribeToShardCommand({ ConsumerARN: consumerArn, ShardId: shardId, StartingPosition: position }),
    { abortSignal: controller.signal },
  );
  const reader: Reader = {
    events: [],
    data: [],
    done: false,
    ended: Promise.resolve(undefined),
    abort: () => controller.abort(),
  };
  (reader as { ended: Promise<Error | undefined> }).ended = (async () => {
    try {
      for await (const event of response.EventStream ?? []) {
        const shardEvent = event.SubscribeToShardEvent;
        if (!shardEvent) continue;
        reader.events.push(shardEvent);
        for (const record of shardEvent.Records ?? [])
          reader.data.push(Buffer.from(record.Data ?? []).toString());
      }
      return undefined;
    } catch (error) {
      return error as Error;
    } finally {
      reader.done = true;
    }
  })();
  return reader;
}
