// The KPL aggregated record on the wire: MAGIC | protobuf AggregatedRecord | MD5(protobuf), with a small
// hand-written codec for its three fixed messages (schema in kpl.proto beside this file). Generic protobuf
// libraries spend most of a small record's time on object trees and copies; here sizes are computed exactly
// up front, each aggregate is written once into one buffer, and decoding returns offsets into the input.
import { createHash } from 'node:crypto';
import { KeyTextDecoder } from './keyText.js';

/** The four bytes that open every KPL aggregated record. */
export const MAGIC = Uint8Array.of(0xf3, 0x89, 0x9a, 0xc2);
/** Length of the MD5 trailer. */
export const DIGEST_BYTES = 16;
/** Framing around the protobuf body: magic plus MD5. */
export const FRAMING_BYTES = MAGIC.length + DIGEST_BYTES;

// Tags (field number << 3 | wire type) of the fields we read and write.
const TAG_PARTITION_KEY_TABLE = 0x0a; // AggregatedRecord.partition_key_table = 1, length-delimited
const TAG_EXPLICIT_HASH_KEY_TABLE = 0x12; // AggregatedRecord.explicit_hash_key_table = 2
const TAG_RECORDS = 0x1a; // AggregatedRecord.records = 3
const TAG_PARTITION_KEY_INDEX = 0x08; // Record.partition_key_index = 1, varint
const TAG_EXPLICIT_HASH_KEY_INDEX = 0x10; // Record.explicit_hash_key_index = 2, varint
const TAG_DATA = 0x1a; // Record.data = 3
const TAG_TAGS = 0x22; // Record.tags = 4
const TAG_TAG_KEY = 0x0a; // Tag.key = 1
// The deepest nesting of unknown groups we skip, as protobuf-java's default recursion limit.
const MAX_GROUP_DEPTH = 100;

/**
 * Whether `data` is framed as a KPL aggregated record, by the KCL's rule: it starts with the magic and more
 * than 16 bytes (the MD5) follow it. The checksum is not checked here.
 */
export function isAggregated(data: Uint8Array): boolean {
  return (
    data.length > FRAMING_BYTES &&
    data[0] === 0xf3 &&
    data[1] === 0x89 &&
    data[2] === 0x9a &&
    data[3] === 0xc2
  );
}

/** Bytes a varint of the non-negative integer `value` (below 2^53) takes. */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x20_0000) return 3;
  if (value < 0x1000_0000) return 4;
  let size = 5;
  for (let rest = Math.floor(value / 0x8_0000_0000); rest > 0; rest = Math.floor(rest / 0x80)) size++;
  return size;
}

/** Bytes a length-delimited field (one-byte tag) with a payload of `byteLength` bytes takes. */
export function delimitedFieldSize(byteLength: number): number {
  return 1 + varintSize(byteLength) + byteLength;
}

/** Bytes of a `Record` message body; `explicitHashKeyIndex` is -1 when absent. */
export function recordBodySize(
  partitionKeyIndex: number,
  explicitHashKeyIndex: number,
  dataLength: number,
): number {
  return (
    1 +
    varintSize(partitionKeyIndex) +
    (explicitHashKeyIndex < 0 ? 0 : 1 + varintSize(explicitHashKeyIndex)) +
    delimitedFieldSize(dataLength)
  );
}

/**
 * One key table of an aggregate (`partition_key_table` or `explicit_hash_key_table`), kept already serialized:
 * each key is UTF-8 encoded once, when first added, in the same pass that measures it, and the encoder then
 * copies the whole section at once. A key is first staged (written past the committed end, its size known)
 * and committed only if the record it belongs to fits.
 */
export class KeyTableBuilder {
  private buffer = Buffer.allocUnsafe(1024);
  // The same memory as a plain Uint8Array: indexed stores into a Buffer (a Uint8Array subclass) compile to
  // slower code in the per-character loop.
  private bytesView = new Uint8Array(this.buffer.buffer, this.buffer.byteOffset, this.buffer.length);
  /** Serialized bytes of the committed keys. */
  committedBytes = 0;
  /** Size of the staged field (tag, length, key), valid after {@link stage}. */
  stagedFieldBytes = 0;
  /** A 32-bit hash of the staged key, valid after {@link stage}. */
  stagedHash = 0;

  constructor(private readonly tag: number) {}

  /**
   * Serializes `text` after the committed keys; returns its UTF-8 byte length and leaves a hash of it in
   * {@link stagedHash} (for KeyIndex), computed in the same pass. Cheap for ASCII keys.
   */
  stage(text: string): number {
    const length = text.length;
    const start = this.committedBytes;
    // Enough for any key: tag, a varint of up to 5 bytes, 3 UTF-8 bytes per UTF-16 unit.
    this.reserve(start + 6 + length * 3);
    const bytes = this.bytesView;
    bytes[start] = this.tag;
    let header = 1 + varintSize(length);
    // One pass writes each UTF-16 unit as a byte (right for ASCII, the common case) and hashes the units two
    // at a time, which halves the chain of dependent multiplications that bounds the loop. The pair goes in as
    // a ^ (b << 7), not a | (b << 16): a product's low bits depend only on its factors' low bits, so the
    // second unit must reach them too, or keys differing only at odd positions share 16 bits of hash.
    let hash = 0x811c9dc5 | 0;
    let units = 0;
    const at = start + header;
    let i = 0;
    for (; i + 1 < length; i += 2) {
      const a = text.charCodeAt(i);
      const b = text.charCodeAt(i + 1);
      units |= a | b;
      hash = Math.imul(hash ^ (a ^ (b << 7)), 0x01000193);
      bytes[at + i] = a;
      bytes[at + i + 1] = b;
    }
    if (i < length) {
      const a = text.charCodeAt(i);
      units |= a;
      hash = Math.imul(hash ^ a, 0x01000193);
      bytes[at + i] = a;
    }
    let byteLength = length;
    if (units >= 0x80) {
      // Not ASCII: write it again as UTF-8 (the hash, over UTF-16 units, stays the same).
      byteLength = Buffer.byteLength(text, 'utf8');
      header = 1 + varintSize(byteLength);
      this.buffer.write(text, start + header, byteLength, 'utf8');
    }
    writeVarint(bytes, start + 1, byteLength);
    this.stagedFieldBytes = header + byteLength;
    // Final mix, so that the low bits (which pick KeyIndex slots) depend on every character.
    hash ^= hash >>> 16;
    hash = Math.imul(hash, 0x85ebca6b);
    this.stagedHash = hash ^ (hash >>> 13);
    return byteLength;
  }

  /** Keeps the staged key. */
  commit(): void {
    this.committedBytes += this.stagedFieldBytes;
  }

  /** The committed section, a view valid until the next change. */
  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.committedBytes);
  }

  reset(): void {
    this.committedBytes = 0;
  }

  private reserve(size: number): void {
    if (size <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(size, this.buffer.length * 2));
    grown.set(this.buffer.subarray(0, this.committedBytes));
    this.buffer = grown;
    this.bytesView = new Uint8Array(grown.buffer, grown.byteOffset, grown.length);
  }
}

/** The pending content of an aggregate, as `RecordAggregator` keeps it. */
export interface AggregateContent {
  partitionKeyTable: KeyTableBuilder;
  explicitHashKeyTable: KeyTableBuilder;
  /** Per user record: index into the partition key table. */
  partitionKeyIndexes: Int32Array;
  /** Per user record: index into the explicit hash key table, or -1. */
  explicitHashKeyIndexes: Int32Array;
  /** Per user record: its data. */
  data: readonly Uint8Array[];
  /** Per user record: the size of its `Record` message body (see {@link recordBodySize}). */
  recordBodySizes: Int32Array;
  /** How many user records there are (the arrays may be longer). */
  count: number;
  /** Exact size of the protobuf body. */
  bodyBytes: number;
}

/** Writes a complete aggregated record (magic, body, MD5) into one buffer of exactly the right size. */
export function encodeAggregate(content: AggregateContent): Buffer {
  const { partitionKeyIndexes, explicitHashKeyIndexes, recordBodySizes, data, count, bodyBytes } = content;
  const out = Buffer.allocUnsafe(bodyBytes + FRAMING_BYTES);
  out.set(MAGIC, 0);
  let pos = MAGIC.length;
  const partitionKeys = content.partitionKeyTable.bytes();
  out.set(partitionKeys, pos);
  pos += partitionKeys.length;
  const explicitHashKeys = content.explicitHashKeyTable.bytes();
  out.set(explicitHashKeys, pos);
  pos += explicitHashKeys.length;
  for (let i = 0; i < count; i++) {
    const pkIndex = partitionKeyIndexes[i] as number;
    const ehkIndex = explicitHashKeyIndexes[i] as number;
    const bytes = data[i] as Uint8Array;
    const length = bytes.length;
    out[pos++] = TAG_RECORDS;
    pos = writeVarint(out, pos, recordBodySizes[i] as number);
    out[pos++] = TAG_PARTITION_KEY_INDEX;
    pos = writeVarint(out, pos, pkIndex);
    if (ehkIndex >= 0) {
      out[pos++] = TAG_EXPLICIT_HASH_KEY_INDEX;
      pos = writeVarint(out, pos, ehkIndex);
    }
    out[pos++] = TAG_DATA;
    pos = writeVarint(out, pos, length);
    out.set(bytes, pos);
    pos += length;
  }
  const body = out.subarray(MAGIC.length, pos);
  out.set(createHash('md5').update(body).digest(), pos);
  return out;
}

/** Tags of the two key tables, for {@link KeyTableBuilder}. */
export const PARTITION_KEY_TABLE_TAG = TAG_PARTITION_KEY_TABLE;
export const EXPLICIT_HASH_KEY_TABLE_TAG = TAG_EXPLICIT_HASH_KEY_TABLE;

// Every value written here (lengths and indexes within one aggregate of at most 10 MiB) is below 2^31, so
// 32-bit shifts are exact.
function writeVarint(out: Uint8Array, pos: number, value: number): number {
  while (value > 0x7f) {
    out[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[pos++] = value;
  return pos;
}

/** Whether the MD5 trailer of an aggregated record (already checked by {@link isAggregated}) matches. */
export function checksumMatches(data: Uint8Array): boolean {
  const bodyEnd = data.length - DIGEST_BYTES;
  const digest = createHash('md5').update(data.subarray(MAGIC.length, bodyEnd)).digest();
  for (let i = 0; i < DIGEST_BYTES; i++) {
    if (digest[i] !== data[bodyEnd + i]) return false;
  }
  return true;
}

/** The top level of a decoded aggregate: tables as strings, records as offsets still to decode. */
export interface DecodedAggregate {
  partitionKeys: string[];
  explicitHashKeys: string[];
  /**
   * Start and end offsets of each `Record` message body, in pairs, in order. Shared scratch: valid until the
   * next {@link decodeAggregate}.
   */
  recordBounds: Int32Array;
  /** How many records (pairs in `recordBounds`) there are. */
  recordCount: number;
}

/** The fields of one `Record` (see {@link decodeRecord}); `explicitHashKeyIndex` is -1 when absent. */
export interface DecodedRecord {
  partitionKeyIndex: number;
  explicitHashKeyIndex: number;
  dataStart: number;
  dataEnd: number;
}

// Decoder state: the input and read position. Decoding is synchronous, so one module-level cursor serves.
let input: Buffer = Buffer.alloc(0);
let pos = 0;
// Offsets in errors are relative to the body, which starts after the magic.
let base = 0;

// Record bounds of the aggregate being decoded, in typed scratch reused across calls: pushing pairs onto a
// fresh array cost more than everything else in the top-level pass. Enough for a 1 MiB aggregate of 16-byte
// records; an aggregate with more gets a larger array for that call only, so the kept one stays small.
const KEPT_BOUNDS = 128 * 1024;
const keptBounds = new Int32Array(KEPT_BOUNDS);
const keyText = new KeyTextDecoder();

/**
 * Decodes the top level of the protobuf body `bytes[start, end)`. Fields may come in any order; unknown
 * fields and wrong wire types are skipped as protobuf requires. Allocation is bounded by the input: nothing
 * is sized from a length prefix.
 * @throws FormatFailure on malformed input.
 */
export function decodeAggregate(bytes: Buffer, start: number, end: number): DecodedAggregate {
  input = bytes;
  pos = start;
  base = start;
  keyText.reset();
  const partitionKeys: string[] = [];
  const explicitHashKeys: string[] = [];
  let bounds = keptBounds;
  let count = 0;
  // Where the last run of key fields looked at by checkKeyRun ended.
  let keysLookedAt = 0;
  while (pos < end) {
    const tag = readTag(end);
    if (tag === TAG_RECORDS) {
      const length = readLength(end);
      if (2 * count + 2 > bounds.length) {
        // At least 2 bytes (tag, length) per record remain: sized by the input, never by a length prefix.
        const grown = new Int32Array(2 * count + (end - pos) + 2);
        grown.set(bounds.subarray(0, 2 * count));
        bounds = grown;
      }
      bounds[2 * count] = pos;
      bounds[2 * count + 1] = pos + length;
      count++;
      pos += length;
    } else if (tag === TAG_PARTITION_KEY_TABLE || tag === TAG_EXPLICIT_HASH_KEY_TABLE) {
      const length = readLength(end);
      if (pos >= keysLookedAt) keysLookedAt = checkKeyRun(bytes, pos, pos + length, end);
      const text = keyText.decode(bytes, pos, pos + length);
      pos += length;
      (tag === TAG_PARTITION_KEY_TABLE ? partitionKeys : explicitHashKeys).push(text);
    } else {
      skipField(tag, end, 0);
    }
  }
  return { partitionKeys, explicitHashKeys, recordBounds: bounds, recordCount: count };
}

/** Fewest keys in a run that {@link checkKeyRun} has checked at once. */
const MIN_RUN_KEYS = 4;

/**
 * Finds the run of key table fields that starts with the key `bytes[start, keyEnd)` and continues with fields
 * of either table whose length fits one varint byte (the KPL writes both tables before any record), and has
 * {@link keyText} check it at once (for ASCII, else for valid UTF-8) if it holds enough keys. The run spans from the first key's
 * first byte to the last key's last byte, tags and lengths between them included: those are ASCII too
 * (a length of 128 or more is not, and ends the run). Returns the run's end. Only reads, never fails: the
 * fields are decoded, and checked, as they come.
 */
function checkKeyRun(bytes: Buffer, start: number, keyEnd: number, end: number): number {
  let runEnd = keyEnd;
  let keys = 1;
  while (runEnd + 2 <= end) {
    const tag = bytes[runEnd];
    const length = bytes[runEnd + 1] as number;
    if ((tag !== TAG_PARTITION_KEY_TABLE && tag !== TAG_EXPLICIT_HASH_KEY_TABLE) || length >= 0x80) break;
    if (runEnd + 2 + length > end) break;
    runEnd += 2 + length;
    keys++;
  }
  if (keys >= MIN_RUN_KEYS) keyText.checkRun(bytes, start, runEnd);
  return runEnd;
}

/**
 * The common case of {@link decodeRecord}, without its cursor: exactly the fields the KPL writes, in its order
 * (partition_key_index, optional explicit_hash_key_index, data), varints of at most 4 bytes. Returns false,
 * having written nothing, for any other layout, which decodeRecord then decodes or rejects.
 */
export function decodeCanonicalRecord(
  bytes: Uint8Array,
  start: number,
  end: number,
  out: DecodedRecord,
): boolean {
  let p = start;
  if (bytes[p] !== TAG_PARTITION_KEY_INDEX) return false;
  p++;
  let partitionKeyIndex = 0;
  let byte = 0;
  let shift = 0;
  do {
    if (p >= end || shift > 21) return false;
    byte = bytes[p++] as number;
    partitionKeyIndex |= (byte & 0x7f) << shift;
    shift += 7;
  } while (byte >= 0x80);
  let explicitHashKeyIndex = -1;
  if (bytes[p] === TAG_EXPLICIT_HASH_KEY_INDEX) {
    p++;
    explicitHashKeyIndex = 0;
    shift = 0;
    do {
      if (p >= end || shift > 21) return false;
      byte = bytes[p++] as number;
      explicitHashKeyIndex |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte >= 0x80);
  }
  if (bytes[p] !== TAG_DATA) return false;
  p++;
  let length = 0;
  shift = 0;
  do {
    if (p >= end || shift > 21) return false;
    byte = bytes[p++] as number;
    length |= (byte & 0x7f) << shift;
    shift += 7;
  } while (byte >= 0x80);
  // The data must end the record exactly; anything after it (or a length past the end) is decodeRecord's.
  if (length !== end - p) return false;
  out.partitionKeyIndex = partitionKeyIndex;
  out.explicitHashKeyIndex = explicitHashKeyIndex;
  out.dataStart = p;
  out.dataEnd = end;
  return true;
}

/**
 * Decodes one `Record` body `bytes[start, end)` into `out`. Checks the required fields are present, and
 * decodes (and drops) tags so that a malformed tag fails as it does in the KPL's own protobuf library.
 * @throws FormatFailure on malformed input.
 */
export function decodeRecord(
  bytes: Buffer,
  start: number,
  end: number,
  bodyStart: number,
  out: DecodedRecord,
): void {
  input = bytes;
  pos = start;
  base = bodyStart;
  let partitionKeyIndex = -1;
  let explicitHashKeyIndex = -1;
  let dataStart = -1;
  let dataEnd = -1;
  while (pos < end) {
    const tag = readTag(end);
    if (tag === TAG_PARTITION_KEY_INDEX) {
      partitionKeyIndex = readVarint(end);
    } else if (tag === TAG_EXPLICIT_HASH_KEY_INDEX) {
      explicitHashKeyIndex = readVarint(end);
    } else if (tag === TAG_DATA) {
      const length = readLength(end);
      dataStart = pos;
      pos += length;
      dataEnd = pos;
    } else if (tag === TAG_TAGS) {
      const length = readLength(end);
      const tagEnd = pos + length;
      checkTag(tagEnd);
      pos = tagEnd;
    } else {
      skipField(tag, end, 0);
    }
  }
  if (partitionKeyIndex < 0) fail('record without partition_key_index', start);
  if (dataStart < 0) fail('record without data', start);
  out.partitionKeyIndex = partitionKeyIndex;
  out.explicitHashKeyIndex = explicitHashKeyIndex;
  out.dataStart = dataStart;
  out.dataEnd = dataEnd;
}

function checkTag(end: number): void {
  const start = pos;
  let hasKey = false;
  while (pos < end) {
    const tag = readTag(end);
    if (tag === TAG_TAG_KEY) hasKey = true;
    skipField(tag, end, 0);
  }
  if (!hasKey) fail('tag without key', start);
}

/**
 * What the decoder throws on malformed input: a plain object, not an Error, because capturing a stack trace
 * costs more than decoding a small aggregate and lenient callers never look at it. `deaggregate` turns it
 * into an `AggregationFormatError` where one is thrown to users; it never escapes this package.
 */
export class FormatFailure {
  constructor(
    readonly message: string,
    readonly offset: number,
  ) {}
}

function fail(message: string, at: number): never {
  throw new FormatFailure(message, at - base);
}

function readVarint(end: number): number {
  let result = 0;
  let multiplier = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) fail('truncated varint', pos);
    const byte = input[pos++] as number;
    result += (byte & 0x7f) * multiplier;
    if (byte < 0x80) return result;
    multiplier *= 0x80;
  }
  return fail('varint longer than 10 bytes', pos);
}

function readTag(end: number): number {
  const at = pos;
  let tag = input[pos] as number;
  // One-byte tags are the only ones this schema uses: take them without the general loop.
  if (tag < 0x80) pos++;
  else tag = readVarint(end);
  if (tag > 0xffff_ffff || tag < 8) fail('invalid field tag', at);
  return tag;
}

function readLength(end: number): number {
  const at = pos;
  const length = readVarint(end);
  if (length > end - pos) fail('length prefix past the end of its message', at);
  return length;
}

function skipField(tag: number, end: number, depth: number): void {
  const at = pos;
  switch (tag % 8) {
    case 0:
      readVarint(end);
      return;
    case 1:
      if (end - pos < 8) fail('truncated fixed64', at);
      pos += 8;
      return;
    case 2: {
      // Not `pos += readLength(end)`: that would read pos before readLength advances it.
      const length = readLength(end);
      pos += length;
      return;
    }
    case 3:
      if (depth >= MAX_GROUP_DEPTH) fail('groups nested too deep', at);
      for (;;) {
        if (pos >= end) fail('unterminated group', at);
        const inner = readTag(end);
        if (inner % 8 === 4) {
          if (Math.floor(inner / 8) !== Math.floor(tag / 8)) fail('mismatched end group', pos);
          return;
        }
        skipField(inner, end, depth + 1);
      }
    case 5:
      if (end - pos < 4) fail('truncated fixed32', at);
      pos += 4;
      return;
    default:
      // 4 (an end group with no start) and the undefined wire types 6 and 7.
      fail('invalid wire type', at);
  }
}
