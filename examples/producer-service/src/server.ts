/**
 * An HTTP ingestion endpoint in front of a KinesisProducer. A request is answered once Kinesis has stored
 * its records (200 with shard and sequence numbers), so a client that got 200 knows nothing can be lost;
 * when the producer's buffer is full it answers 429 with Retry-After before putting anything, and 503 once
 * the service is shutting down. Node's own `http`; no framework.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type KinesisProducer, ProducerError, type PutResult } from '@shardline/producer';

/** Options for {@link createIngestServer}. */
export interface IngestServerOptions {
  /**
   * Largest request body accepted, in bytes (a PutRecords request carries at most 5 MiB).
   * @defaultValue `5_242_880`
   */
  maxBodyBytes?: number;
  /**
   * Most records in one request.
   * @defaultValue `500`
   */
  maxRecordsPerRequest?: number;
}

/** One record in a request body: `data` is stored as UTF-8, or give `dataBase64` for binary payloads. */
export interface IngestRecord {
  partitionKey: string;
  data?: string;
  dataBase64?: string;
  explicitHashKey?: string;
}

type RecordOutcome =
  | { ok: true; shardId: string; sequenceNumber: string; subSequenceNumber?: number }
  | { ok: false; code: string; retriable: boolean; message: string };

class BadRequest extends Error {}

export function createIngestServer(producer: KinesisProducer, options: IngestServerOptions = {}): Server {
  const maxBodyBytes = options.maxBodyBytes ?? 5_242_880;
  const maxRecords = options.maxRecordsPerRequest ?? 500;

  return createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) reply(res, 500, { error: 'internal error' });
      // No payloads in logs: the error only.
      console.error('ingest: request failed:', error instanceof Error ? error.message : error);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'GET' && req.url === '/healthz') {
      const m = producer.metrics();
      const status = producer.isClosed ? 503 : 200;
      return reply(res, status, { status: status === 200 ? 'ok' : 'closing', pending: m.UserRecordsPending });
    }
    if (req.method !== 'POST' || req.url !== '/records') return reply(res, 404, { error: 'POST /records' });
    if (producer.isClosed) return reply(res, 503, { error: 'shutting down' }, { 'retry-after': '1' });

    let records: IngestRecord[];
    try {
      records = parseRecords(await readBody(req, maxBodyBytes), maxRecords);
    } catch (error) {
      if (error instanceof BadRequest) return reply(res, 400, { error: error.message });
      if (error instanceof RangeError) return reply(res, 413, { error: error.message });
      throw error;
    }
    const payloads = records.map(toPayload);
    const bytes = payloads.reduce((sum, p) => sum + p.data.length + Buffer.byteLength(p.partitionKey), 0);
    // Backpressure: refuse the whole request up front rather than accept part of it.
    if (!producer.hasCapacity(bytes)) {
      return reply(res, 429, { error: 'buffer full, retry later' }, { 'retry-after': '1' });
    }
    const outcomes = await Promise.all(payloads.map((p) => producer.put(p).then(success, failure)));
    const failed = outcomes.filter((o) => !o.ok);
    const status =
      failed.length === 0
        ? 200
        : failed.length < outcomes.length
          ? 207
          : failed.every((o) => !o.ok && o.code === 'INVALID_RECORD')
            ? 400
            : failed.some((o) => !o.ok && o.code === 'BUFFER_FULL')
              ? 429
              : 503;
    reply(res, status, { results: outcomes });
  }
}

function toPayload(r: IngestRecord): { partitionKey: string; data: Buffer; explicitHashKey?: string } {
  const data =
    r.dataBase64 !== undefined ? Buffer.from(r.dataBase64, 'base64') : Buffer.from(r.data ?? '', 'utf8');
  return r.explicitHashKey === undefined
    ? { partitionKey: r.partitionKey, data }
    : { partitionKey: r.partitionKey, data, explicitHashKey: r.explicitHashKey };
}

function success(result: PutResult): RecordOutcome {
  return {
    ok: true,
    shardId: result.shardId,
    sequenceNumber: result.sequenceNumber,
    ...(result.subSequenceNumber === undefined ? {} : { subSequenceNumber: result.subSequenceNumber }),
  };
}

function failure(error: unknown): RecordOutcome {
  if (error instanceof ProducerError) {
    return { ok: false, code: error.code, retriable: error.retriable, message: error.message };
  }
  return { ok: false, code: 'UNKNOWN', retriable: true, message: String(error) };
}

function parseRecords(body: string, maxRecords: number): IngestRecord[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new BadRequest('body is not JSON');
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  if (list.length === 0 || list.length > maxRecords) {
    throw new BadRequest(`send 1 to ${maxRecords} records per request`);
  }
  return list.map((item, i) => {
    const r = item as Partial<IngestRecord> | null;
    if (!r || typeof r.partitionKey !== 'string')
      throw new BadRequest(`record ${i}: partitionKey must be a string`);
    if (r.data !== undefined && typeof r.data !== 'string')
      throw new BadRequest(`record ${i}: data must be a string`);
    if (r.dataBase64 !== undefined && typeof r.dataBase64 !== 'string') {
      throw new BadRequest(`record ${i}: dataBase64 must be a string`);
    }
    if (r.explicitHashKey !== undefined && typeof r.explicitHashKey !== 'string') {
      throw new BadRequest(`record ${i}: explicitHashKey must be a string`);
    }
    return r as IngestRecord;
  });
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new RangeError(`body larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reply(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
