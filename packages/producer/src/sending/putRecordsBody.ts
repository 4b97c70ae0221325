import type { KinesisClient, PutRecordsCommand, PutRecordsCommandInput } from '@aws-sdk/client-kinesis';

/**
 * The JSON body of a PutRecords request, `{"StreamName"|"StreamARN", "Records": [{"Data", "PartitionKey",
 * "ExplicitHashKey"?}]}`, built here instead of by the SDK. Why: the SDK's serializer base64-encodes every
 * `Data` in JavaScript, byte by byte, into a buffer that grows by doubling; that was the producer's largest
 * single CPU cost after the garbage collector. Native base64 and `JSON.stringify` for the strings (any
 * unicode; lone surrogates come out as `\uXXXX` escapes, as from the SDK) give the same JSON for a fraction
 * of the CPU. Members the SDK would omit (null or undefined) are omitted. One `Buffer`, so the SDK's content
 * length, signing and HTTP write take it as is.
 */
export function putRecordsBody(input: PutRecordsCommandInput): Buffer {
  let head = '{';
  if (input.StreamName != null) head += `"StreamName":${JSON.stringify(input.StreamName)},`;
  if (input.StreamARN != null) head += `"StreamARN":${JSON.stringify(input.StreamARN)},`;
  head += '"Records":[';
  const records = input.Records ?? [];
  // Each record as its base64 data and the JSON around it; written into one buffer sized up front, because
  // concatenating megabytes of base64 into one string and encoding that string cost three times as much.
  const data: Array<string | undefined> = new Array(records.length);
  const rest: string[] = new Array(records.length);
  let size = Buffer.byteLength(head) + 2;
  for (let i = 0; i < records.length; i++) {
    const record = records[i];
    let json = '';
    let separator = '';
    if (record?.Data != null) {
      const encoded = base64(record.Data);
      data[i] = encoded;
      size += encoded.length;
      separator = ',';
    }
    if (record?.PartitionKey != null) {
      json += `${separator}"PartitionKey":${JSON.stringify(record.PartitionKey)}`;
      separator = ',';
    }
    if (record?.ExplicitHashKey != null) {
      json += `${separator}"ExplicitHashKey":${JSON.stringify(record.ExplicitHashKey)}`;
    }
    json += '}';
    rest[i] = json;
    // "{" or ",{", and the quotes around the data.
    size += Buffer.byteLength(json) + DATA_OPEN.length + 3;
  }
  const body = Buffer.allocUnsafe(size);
  let offset = body.write(head, 0, 'utf8');
  for (let i = 0; i < records.length; i++) {
    offset += body.write(i === 0 ? '{' : ',{', offset, 'latin1');
    const encoded = data[i];
    if (encoded !== undefined) {
      offset += body.write(DATA_OPEN, offset, 'latin1');
      offset += body.write(encoded, offset, 'latin1');
      offset += body.write('"', offset, 'latin1');
    }
    offset += body.write(rest[i] as string, offset, 'utf8');
  }
  offset += body.write(']}', offset, 'latin1');
  return offset === size ? body : body.subarray(0, offset);
}

const DATA_OPEN = '"Data":"';

function base64(data: Uint8Array | string): string {
  // A string blob is sent as its UTF-8 bytes, as the SDK does.
  if (typeof data === 'string') return Buffer.from(data, 'utf8').toString('base64');
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return bytes.toString('base64');
}

/** The wire protocol this body is written in, and the content type the SDK gives its requests. */
const AWS_JSON_1_1 = 'aws.protocols#awsJson1_1';
const AWS_JSON_1_1_CONTENT_TYPE = 'application/x-amz-json-1.1';

/**
 * Whether `client` sends Kinesis requests as awsJson1_1, the only protocol {@link putRecordsBody} writes. A
 * client configured with another protocol (the SDK lets a caller choose, for example Smithy RPCv2 CBOR) is
 * left to serialize on its own. SDKs from before the protocol became a client setting always send JSON.
 */
export function sendsAwsJson(client: KinesisClient): boolean {
  const protocol: unknown = (client.config as { protocol?: unknown }).protocol;
  if (protocol === undefined) return true;
  const shapeId =
    typeof protocol === 'object' &&
    protocol !== null &&
    'getShapeId' in protocol &&
    typeof protocol.getShapeId === 'function'
      ? (protocol.getShapeId as () => unknown)()
      : undefined;
  return shapeId === AWS_JSON_1_1;
}

/** Thrown (and so failing the request, not retried) if the SDK serialized a PutRecords as anything but JSON. */
export class ProtocolMismatchError extends Error {
  override readonly name = 'ProtocolMismatchError';
}

/** Where the body travels from the input middleware to the request middleware: the context of one send. */
const BODY = Symbol('shardline.putRecordsBody');
type BodyContext = { [BODY]?: Buffer };

/**
 * Makes `command` send a body from {@link putRecordsBody} instead of the SDK's serialization; only for a
 * client that {@link sendsAwsJson}. Two middlewares on the command's own stack, never the caller's client:
 * - initialize, priority low: after the client's own initialize middlewares (which may read or rewrite
 *   `Records`; the SDK logger, fault injectors), builds the body from the input as it arrives and hands the
 *   SDK an input with `Records: []`, so its serializer does next to nothing;
 * - serialize, priority low: right after the SDK's serializer (serialize, normal) made the request and
 *   before every build-step middleware (the caller's, content length) and the retry and signing ones
 *   (finalizeRequest), puts our body in the request, so it is the one seen, measured, signed and sent. A
 *   request serialized as anything but JSON fails with {@link ProtocolMismatchError} instead of carrying a
 *   body of another protocol. The response is deserialized by the SDK as usual.
 */
export function serializeNatively(command: PutRecordsCommand): void {
  const stack = command.middlewareStack;
  stack.add(
    (next, context) => (args) => {
      (context as BodyContext)[BODY] = putRecordsBody(args.input);
      return next({ ...args, input: { ...args.input, Records: [] } });
    },
    { step: 'initialize', priority: 'low', name: 'shardlinePutRecordsInput' },
  );
  stack.add(
    (next, context) => (args) => {
      const body = (context as BodyContext)[BODY];
      if (body !== undefined) {
        // An HttpRequest here (the serializer made it); plain fields, so no @smithy import is needed.
        const request = args.request as { headers: Record<string, string>; body: unknown };
        const contentType = Object.entries(request.headers).find(
          ([name]) => name.toLowerCase() === 'content-type',
        )?.[1];
        if (contentType !== AWS_JSON_1_1_CONTENT_TYPE) {
          throw new ProtocolMismatchError(
            `the Kinesis client serialized PutRecords as ${contentType ?? 'no content type'}, not ${AWS_JSON_1_1_CONTENT_TYPE}`,
          );
        }
        request.body = body;
        for (const name of Object.keys(request.headers)) {
          if (name.toLowerCase() === 'content-length') delete request.headers[name];
        }
        request.headers['content-length'] = String(body.byteLength);
      }
      return next(args);
    },
    { step: 'serialize', priority: 'low', name: 'shardlinePutRecordsBody' },
  );
}
