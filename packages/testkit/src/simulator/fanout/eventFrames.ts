import { EventStreamCodec } from '@smithy/core/event-streams';

/**
 * The AWS event-stream framing (prelude, headers, payload, CRCs) of SubscribeToShard's response, encoded
 * with the same codec the SDK decodes it with.
 */
const codec = new EventStreamCodec(
  (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'),
  (text) => Buffer.from(text, 'utf8'),
);

function frame(headers: Record<string, string>, body: unknown): Uint8Array {
  return codec.encode({
    headers: Object.fromEntries(
      Object.entries(headers).map(([name, value]) => [name, { type: 'string' as const, value }]),
    ),
    body: Buffer.from(JSON.stringify(body), 'utf8'),
  });
}

/** The first frame: `send()` resolves once it has read it. */
export function initialResponseFrame(): Uint8Array {
  return frame(
    { ':message-type': 'event', ':event-type': 'initial-response', ':content-type': 'application/json' },
    {},
  );
}

/** A SubscribeToShardEvent (Records, ContinuationSequenceNumber, MillisBehindLatest, ChildShards). */
export function shardEventFrame(event: Record<string, unknown>): Uint8Array {
  return frame(
    { ':message-type': 'event', ':event-type': 'SubscribeToShardEvent', ':content-type': 'application/json' },
    event,
  );
}

/** A modelled exception (`ResourceInUseException`, `InternalFailureException`, `KMS...`): the SDK throws its class. */
export function exceptionFrame(exceptionType: string, message: string): Uint8Array {
  return frame(
    { ':message-type': 'exception', ':exception-type': exceptionType, ':content-type': 'application/json' },
    { message },
  );
}

/** An unmodelled error frame: the SDK throws a plain `Error` named `errorCode`. */
export function errorFrame(errorCode: string, message: string): Uint8Array {
  return codec.encode({
    headers: {
      ':message-type': { type: 'string', value: 'error' },
      ':error-code': { type: 'string', value: errorCode },
      ':error-message': { type: 'string', value: message },
    },
    body: new Uint8Array(0),
  });
}
