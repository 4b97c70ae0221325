import {
  type KinesisClient,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
  type PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import pRetry from 'p-retry';
import { type BackoffPolicy, fullJitterDelay } from '../backoff.js';
import type { Entry } from '../collection/RequestBuilder.js';
import { type ClassifiedError, classifyError } from '../errors.js';
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

// A PutRecords answer whose entry count does not match the request cannot be mapped back to records; it is
// treated as a failed call and retried.
class MismatchedResponseError extends Error {
  override readonly name = 'InternalFailure';
}

/**
 * Sends PutRecords requests. Whole-call failures (HTTP errors, throttled calls, timeouts, resets) are retried
 * through p-retry, at most `maxRequestRetries` times, with full-jitter backoff and never past `deadline`;
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
    let startedAt = 0;
    // The SDK may retry inside one of our tries; counting its attempts keeps our backoff from restarting low.
    let sdkAttemptsSoFar = 0;
    try {
      return await pRetry(
        async () => {
          startedAt = Date.now();
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
            ok: true as const,
            results,
            startedAt,
            durationMs: Date.now() - startedAt,
            sdkAttempts: response.$metadata.attempts,
          };
        },
        {
          retries: maxRequestRetries,
          minTimeout: 0,
          onFailedAttempt: async ({ error, retriesLeft }) => {
            const classified = classifyError(error);
            const sdkAttempts = sdkAttemptsOf(error);
            sdkAttemptsSoFar += sdkAttempts ?? 1;
            onFailedTry({ error: classified, startedAt, durationMs: Date.now() - startedAt, sdkAttempts });
            const delay = fullJitterDelay(sdkAttemptsSoFar - 1, backoff);
            // Throwing here ends p-retry with this error: not worth retrying, or no time left to.
            if (!classified.retriable || retriesLeft <= 0 || Date.now() + delay >= deadline) throw error;
            await new Promise((resolve) => setTimeout(resolve, delay));
          },
        },
      );
    } catch (error) {
      return { ok: false, error: classifyError(error), cause: error };
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
