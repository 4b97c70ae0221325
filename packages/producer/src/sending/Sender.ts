import {
  type KinesisClient,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
  type PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import type { Entry } from '../collection/RequestBuilder.js';
import { type ClassifiedError, classifyError, MismatchedResponseError } from '../errors.js';
import { type BackoffPolicy, delayBeforeDeadline, fullJitterDelay, sleep } from '../retry.js';
import { sendsAwsJson, serializeNatively } from './putRecordsBody.js';

/** Settings of a `Sender`. */
export interface SenderOptions {
  client: KinesisClient;
  streamName: string | undefined;
  streamARN: string | undefined;
  requestTimeoutMs: number;
  maxRequestRetries: number;
  backoff: BackoffPolicy;
}

/** One failed try of a whole request, reported so every record in it can log the attempt. */
export interface FailedTry {
  error: ClassifiedError;
  startedAt: number;
  durationMs: number;
  sdkAttempts: number | undefined;
}

/** How a request ended. */
export type SendOutcome =
  | {
      ok: true;
      /** One result per entry, in request order. */
      results: PutRecordsResultEntry[];
      startedAt: number;
      durationMs: number;
      sdkAttempts: number | undefined;
    }
  | { ok: false; error: ClassifiedError; cause: unknown };

/**
 * Sends PutRecords requests. Whole-call failures (HTTP errors, throttled calls, timeouts, resets) are retried
 * at most `maxRequestRetries` times, with the package's full-jitter backoff (retry.ts) and never past `deadline`;
 * each try is bounded by `requestTimeoutMs` through an abort signal, which also bounds any retries the
 * caller's SDK client makes inside it. Per-entry failures of a 200 answer are the caller's to retry.
 */
export class Sender {
  // Whether our own PutRecords body can replace the SDK's (putRecordsBody.ts): the client speaks JSON.
  private readonly nativeBody: boolean;

  constructor(private readonly options: SenderOptions) {
    this.nativeBody = sendsAwsJson(options.client);
  }

  async send(
    entries: readonly Entry[],
    deadline: number,
    onFailedTry: (t: FailedTry) => void,
  ): Promise<SendOutcome> {
    const { client, streamName, streamARN, requestTimeoutMs, maxRequestRetries, backoff } = this.options;
    const records: PutRecordsRequestEntry[] = entries.map((entry) => ({
      Data: entry.data,
      PartitionKey: entry.partitionKey,
      ExplicitHashKey: entry.explicitHashKey,
    }));
    // The SDK may retry inside one of our tries; counting its attempts keeps our backoff from restarting low.
    let sdkAttemptsSoFar = 0;
    for (let retries = 0; ; retries++) {
      const startedAt = Date.now();
      try {
        const command = new PutRecordsCommand({
          StreamName: streamName,
          StreamARN: streamARN,
          Records: records,
        });
        // Our own body, base64 done natively: the SDK's serializer was a top CPU cost (putRecordsBody.ts).
        if (this.nativeBody) serializeNatively(command);
        const response = await client.send(command, { abortSignal: AbortSignal.timeout(requestTimeoutMs) });
        const results = response.Records ?? [];
        if (results.length !== entries.length) {
          throw new MismatchedResponseError(
            `PutRecords answered ${results.length} results for ${entries.length} entries`,
          );
        }
        return {
          ok: true,
          results,
          startedAt,
          durationMs: Date.now() - startedAt,
          sdkAttempts: response.$metadata.attempts,
        };
      } catch (error) {
        const classified = classifyError(error);
        const sdkAttempts = sdkAttemptsOf(error);
        sdkAttemptsSoFar += sdkAttempts ?? 1;
        onFailedTry({ error: classified, startedAt, durationMs: Date.now() - startedAt, sdkAttempts });
        const delay = fullJitterDelay(sdkAttemptsSoFar - 1, backoff);
        // Not worth retrying, out of retries, or no time left to.
        if (
          !classified.retriable ||
          retries >= maxRequestRetries ||
          delayBeforeDeadline(delay, Date.now(), deadline) === undefined
        ) {
          return { ok: false, error: classified, cause: error };
        }
        await sleep(delay);
      }
    }
  }
}

function sdkAttemptsOf(error: unknown): number | undefined {
  const metadata = (error as { $metadata?: { attempts?: unknown } } | null)?.$metadata;
  return typeof metadata?.attempts === 'number' ? metadata.attempts : undefined;
}

/** The caller's client's `maxAttempts` (the SDK resolves it to a provider function), if it can be read. */
export async function clientMaxAttempts(client: KinesisClient): Promise<number | undefined> {
  try {
    const maxAttempts = (client as { config?: { maxAttempts?: unknown } }).config?.maxAttempts;
    const value: unknown = typeof maxAttempts === 'function' ? await maxAttempts() : maxAttempts;
    return typeof value === 'number' ? value : undefined;
  } catch {
    return undefined;
  }
}
