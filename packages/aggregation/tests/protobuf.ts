// protobufjs built from the proto2 text of kpl.proto: the independent authority the hand-written codec is
// checked against. (Loading from a JSON descriptor without `syntax` would make fields proto3-like and drop
// an explicit_hash_key_index of 0.)
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';

const proto = readFileSync(new URL('../src/kpl.proto', import.meta.url), 'utf8');
const AggregatedRecordType = protobuf.parse(proto).root.lookupType('AggregatedRecord');

export interface PbRecord {
  partitionKeyIndex: number;
  explicitHashKeyIndex?: number;
  data: Uint8Array;
  tags?: { key: string; value?: string }[];
}

export interface PbAggregate {
  partitionKeyTable: string[];
  explicitHashKeyTable: string[];
  records: PbRecord[];
}

export function pbEncode(message: PbAggregate): Uint8Array {
  return AggregatedRecordType.encode(AggregatedRecordType.fromObject(message)).finish();
}

export function pbDecode(body: Uint8Array): PbAggregate {
  const decoded = AggregatedRecordType.toObject(AggregatedRecordType.decode(body), {
    longs: Number,
    arrays: true,
  }) as PbAggregate;
  return {
    partitionKeyTable: decoded.partitionKeyTable,
    explicitHashKeyTable: decoded.explicitHashKeyTable,
    records: decoded.records.map((r) => {
      const record: PbRecord = { partitionKeyIndex: r.partitionKeyIndex, data: new Uint8Array(r.data) };
      if (r.explicitHashKeyIndex !== undefined) record.explicitHashKeyIndex = r.explicitHashKeyIndex;
      return record;
    }),
  };
}

const MAGIC = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);

/** MAGIC | body | MD5(body). */
export function frame(body: Uint8Array): Buffer {
  return Buffer.concat([MAGIC, body, createHash('md5').update(body).digest()]);
}

/** The protobuf body of a framed aggregate. */
export function unframe(data: Uint8Array): Uint8Array {
  return data.subarray(4, data.length - 16);
}
