import type { PutRecordsCommand, PutRecordsCommandInput } from '@aws-sdk/client-kinesis';

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
  let json = '{';
  if (input.StreamName != null) json += `"StreamName":${JSON.stringify(input.StreamName)},`;
  if (input.StreamARN != null) json += `"StreamARN":${JSON.stringify(input.StreamARN)},`;
  json += '"Records":[';
  const records = input.Records ?? [];
  for (let i = 0; i < records.length; i++) {
    const record = records[i];
    json += i === 0 ? '{' : ',{';
    let separator = '';
    if (record?.Data != null) {
      json += `"Data":"${base64(record.Data)}"`;
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
  }
  json += ']}';
  return Buffer.from(json, 'utf8');
}

function base64(data: Uint8Array | string): string {
  // A string blob is sent as its UTF-8 bytes, as the SDK does.
  if (typeof data === 'string') return Buffer.from(data, 'utf8').toString('base64');
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return bytes.toString('base64');
}

/** Where the body travels from the input middleware to the request middleware: the context of one send. */
const BODY = Symbol('shardline.putRecordsBody');
type BodyContext = { [BODY]?: Buffer };

/**
 * Makes `command` send a body from {@link putRecordsBody} instead of the SDK's serialization. Two
 * middlewares on the command's own stack, never the caller's client:
 * - initialize, priority low: after the client's own initialize middlewares (which may read or rewrite
 *   `Records`; the SDK logger, fault injectors), builds the body from the input as it arrives and hands the
 *   SDK an input with `Records: []`, so its serializer does next to nothing;
 * - build, priority high: after the SDK serialized the request and before its content-length (build,
 *   normal), retry and signing (finalizeRequest) middlewares, puts our body in the request, so it is the
 *   one measured, signed and sent. The response is deserialized by the SDK as usual.
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
        request.body = body;
        for (const name of Object.keys(request.headers)) {
          if (name.toLowerCase() === 'content-length') delete request.headers[name];
        }
        request.headers['content-length'] = String(body.byteLength);
      }
      return next(args);
    },
    { step: 'build', priority: 'high', name: 'shardlinePutRecordsBody' },
  );
}
