// Strings of an aggregate's key tables, decoded from UTF-8. Node's `toString('utf8')` takes a fast path
// only for ASCII; for a key with multi-byte characters it costs about 20 ns per byte (a 40-byte key of
// Cyrillic or CJK: ~380 ns, more than all the rest of a 64 B user record's decoding). Decoding such a key
// here into UTF-16 units and handing them to Node as one copy costs about a quarter of that. Only valid
// UTF-8 is decoded here; anything else goes back to Node's decoder, so replacement characters for invalid
// input are exactly what they always were.

import * as buffer from 'node:buffer';

/** Keys longer than this (in bytes) always go to Node's decoder: the scratch below stays small. */
const MAX_SCRATCH_BYTES = 1024;

// UTF-8 needs at most one UTF-16 unit per byte, so MAX_SCRATCH_BYTES units always suffice; one more for the
// second unit the decoder writes (and may not keep) after the last.
const unitsBuffer = Buffer.alloc(MAX_SCRATCH_BYTES * 2 + 2);
const units = new Uint16Array(unitsBuffer.buffer, unitsBuffer.byteOffset, MAX_SCRATCH_BYTES + 1);
// For keys whose characters all fit Latin-1 (é, ß): Node makes those one-byte strings, and so do we.
const latin1Buffer = Buffer.alloc(MAX_SCRATCH_BYTES);

// Node's per-encoding Buffer methods: what `toString` calls once it has checked its arguments and looked the
// encoding up, a cost that shows at one call per key. Not in Node's typings, so used only where present, with
// `toString` as the fallback. Offsets given to them here are always within the buffer.
type Slice = (this: Buffer, start: number, end: number) => string;
const methods = Buffer.prototype as unknown as Partial<
  Record<'latin1Slice' | 'ucs2Slice' | 'utf8Slice', Slice>
>;
const latin1Slice: Slice =
  methods.latin1Slice ??
  function (start, end) {
    return this.toString('latin1', start, end);
  };
const ucs2Slice: Slice =
  methods.ucs2Slice ??
  function (start, end) {
    return this.toString('utf16le', start, end);
  };
const utf8Slice: Slice =
  methods.utf8Slice ??
  function (start, end) {
    return this.toString('utf8', start, end);
  };

// node:buffer's isAscii and isUtf8 (Node 18.15 and later), looked up so that a runtime without them only loses
// the fast paths.
type Check = ((input: Uint8Array) => boolean) | undefined;
const { isAscii, isUtf8 } = buffer as { isAscii?: Check; isUtf8?: Check };
// What KeyTextDecoder.checkRun found a run of keys to be.
const NONE = 0;
const ASCII = 1;
const VALID = 2;

// Buffer's 'utf16le' reads little-endian units; on a big-endian machine the Uint16Array would hold them the
// other way round, so there every key goes to Node's decoder.
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * Decodes the key table strings of one aggregate. Starts with Node's decoder, which is fastest for ASCII
 * keys, and switches to its own once a key turns out to hold multi-byte characters (keys of one producer
 * tend to be alike); in either mode a key is decoded once, and identically.
 */
export class KeyTextDecoder {
  private multiByte = false;
  // The last buffer decoded from, and the same memory as a plain Uint8Array (made once per buffer).
  private source: Buffer | undefined;
  private view: Uint8Array = new Uint8Array(0);
  // A range of `runSource` checked by checkRun: all ASCII (runKind ASCII), all valid UTF-8 (VALID), or
  // neither (NONE, also when no range was checked).
  private runSource: Buffer | undefined;
  private runStart = 0;
  private runEnd = 0;
  private runKind = NONE;

  /** Starts a new aggregate in Node's (ASCII-fast) mode, with no range checked. */
  reset(): void {
    this.multiByte = false;
    this.runSource = undefined;
    this.runKind = NONE;
  }

  /**
   * Checks `bytes[start, end)`, a run of several keys with ASCII bytes (tags, one-byte lengths) between them,
   * in one or two native calls: whether it is all ASCII, else whether it is valid UTF-8. The calls and their
   * view cost about 45 ns each, the checks a fraction of a nanosecond per byte. Keys inside an ASCII run are
   * then taken as Latin-1, which for ASCII is the same string and which Node makes without the UTF-8
   * decoder's scan (about 40 against 70 ns for a 114-byte key); keys inside a valid run skip the per-character
   * validation. A valid run means valid keys: no multi-byte sequence can span an ASCII byte between keys.
   */
  checkRun(bytes: Buffer, start: number, end: number): void {
    if (isAscii === undefined || isUtf8 === undefined) return;
    const run = new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start);
    let kind = NONE;
    if (isAscii(run)) kind = ASCII;
    else if (LITTLE_ENDIAN && isUtf8(run)) kind = VALID;
    this.runSource = bytes;
    this.runStart = start;
    this.runEnd = end;
    this.runKind = kind;
  }

  /** The string of the UTF-8 bytes `bytes[start, end)`, exactly as `bytes.toString('utf8', start, end)`. */
  decode(bytes: Buffer, start: number, end: number): string {
    if (this.runKind !== NONE && end <= this.runEnd && start >= this.runStart && bytes === this.runSource) {
      if (this.runKind === ASCII) return latin1Slice.call(bytes, start, end);
      if (end - start <= MAX_SCRATCH_BYTES) return decodeCheckedUtf8(bytes, start, end, this.viewOf(bytes));
    }
    if (this.multiByte) {
      const text = decodeValidUtf8(bytes, start, end, this.viewOf(bytes));
      if (text !== undefined) return text;
      return utf8Slice.call(bytes, start, end);
    }
    const text = utf8Slice.call(bytes, start, end);
    // Fewer UTF-16 units than bytes: multi-byte characters (or invalid bytes) were there.
    if (text.length !== end - start && LITTLE_ENDIAN) this.multiByte = true;
    return text;
  }

  private viewOf(bytes: Buffer): Uint8Array {
    if (bytes !== this.source) {
      this.source = bytes;
      this.view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    }
    return this.view;
  }
}

/**
 * {@link decodeValidUtf8} for bytes already known to be valid UTF-8 and at most MAX_SCRATCH_BYTES long: the
 * same steps without the checks. `view` is `bytes` as a plain Uint8Array.
 */
function decodeCheckedUtf8(bytes: Buffer, start: number, end: number, view: Uint8Array): string {
  // Each step reads three bytes past its lead; near the end of the view the checking decoder's loop does it.
  if (end + 3 > view.length)
    return decodeValidUtf8(bytes, start, end, view) ?? utf8Slice.call(bytes, start, end);
  let n = 0;
  let seen = 0;
  for (let p = start; p < end; ) {
    const b0 = view[p] as number;
    const length = SEQUENCE_LENGTH[b0] as number;
    // Never for checked input; should it ever come, the checking decoder takes the key rather than this loop
    // standing still.
    if (length === 0) return decodeValidUtf8(bytes, start, end, view) ?? utf8Slice.call(bytes, start, end);
    const next = ((view[p + 1] as number) << 16) | ((view[p + 2] as number) << 8) | (view[p + 3] as number);
    const codePoint =
      (((b0 & (SEQUENCE[length << 2] as number)) << 18) |
        ((next & 0x3f_00_00) >> 4) |
        ((next & 0x3f_00) >> 2) |
        (next & 0x3f)) >>>
      (24 - 6 * length);
    const astral = (0xffff - codePoint) >>> 31;
    const offset = codePoint - 0x1_0000;
    units[n] = codePoint ^ ((codePoint ^ (0xd800 | ((offset >> 10) & 0x3ff))) & -astral);
    units[n + 1] = 0xdc00 | (offset & 0x3ff);
    n += 1 + astral;
    seen |= codePoint;
    p += length;
  }
  return fromUnits(bytes, start, end, n, seen);
}

/** The string of the `n` units decoded from `bytes[start, end)`, whose code points OR together to `seen`. */
function fromUnits(bytes: Buffer, start: number, end: number, n: number, seen: number): string {
  if (seen < 0x80) return latin1Slice.call(bytes, start, end);
  if (seen < 0x100) {
    for (let i = 0; i < n; i++) latin1Buffer[i] = units[i] as number;
    return latin1Slice.call(latin1Buffer, 0, n);
  }
  return ucs2Slice.call(unitsBuffer, 0, n * 2);
}

// Per lead byte: the length of its sequence (1-4), or 0 where no valid sequence starts (a continuation byte,
// the overlong leads 0xc0 and 0xc1, and 0xf5-0xff, which would lie beyond U+10FFFF).
const SEQUENCE_LENGTH = new Uint8Array(256);
SEQUENCE_LENGTH.fill(1, 0x00, 0x80);
SEQUENCE_LENGTH.fill(2, 0xc2, 0xe0);
SEQUENCE_LENGTH.fill(3, 0xe0, 0xf0);
SEQUENCE_LENGTH.fill(4, 0xf0, 0xf5);
// Per sequence length L, four entries at 4 * L: the lead byte's payload mask; the mask and the expected value
// of the three bytes after the lead taken as one 24-bit number (only the first L - 1 of them are the
// sequence's: each must be a continuation byte, 10xxxxxx); the smallest code point of that length (below it
// the form is overlong). L = 0 gets a minimum no code point reaches, so an invalid lead always fails.
// biome-ignore format: one row per sequence length
const SEQUENCE = Int32Array.of(
  0,    0,         0,         0x7fff_ffff,
  0x7f, 0,         0,         0,
  0x1f, 0xc0_00_00, 0x80_00_00, 0x80,
  0x0f, 0xc0_c0_00, 0x80_80_00, 0x800,
  0x07, 0xc0_c0_c0, 0x80_80_80, 0x1_0000,
);

/**
 * Decodes `bytes[start, end)` if it is valid UTF-8 (no overlong forms, no surrogates, nothing above
 * U+10FFFF, no truncated sequence) and not longer than the scratch; otherwise returns undefined. `view` is
 * the same memory as `bytes` as a plain Uint8Array, whose indexed reads compile to faster code than a
 * Buffer's.
 */
export function decodeValidUtf8(
  bytes: Buffer,
  start: number,
  end: number,
  view: Uint8Array = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length),
): string | undefined {
  if (!LITTLE_ENDIAN || end - start > MAX_SCRATCH_BYTES) return undefined;
  let n = 0;
  // Bitwise OR of every code point: tells ASCII-only and Latin-1-only keys apart at the end.
  let seen = 0;
  let p = start;
  // Without a branch on the sequence length: keys that mix 2-, 3- and 4-byte characters at random (a mix the
  // branch predictor cannot learn) decode at the same speed as single-script ones. Each step reads the lead
  // and the three bytes after it, so it runs while those are inside `view`; a sequence must still end by
  // `end`, checked before it counts, and the last few bytes of a view go through the loop below.
  const fastEnd = Math.min(end, view.length - 3);
  while (p < fastEnd) {
    const b0 = view[p] as number;
    const length = SEQUENCE_LENGTH[b0] as number;
    const at = length << 2;
    const next = ((view[p + 1] as number) << 16) | ((view[p + 2] as number) << 8) | (view[p + 3] as number);
    const codePoint =
      (((b0 & (SEQUENCE[at] as number)) << 18) |
        ((next & 0x3f_00_00) >> 4) |
        ((next & 0x3f_00) >> 2) |
        (next & 0x3f)) >>>
      (24 - 6 * length);
    if (
      p + length > end ||
      (next & (SEQUENCE[at + 1] as number)) !== (SEQUENCE[at + 2] as number) ||
      codePoint < (SEQUENCE[at + 3] as number) ||
      codePoint > 0x10_ffff ||
      (codePoint & 0x1f_f800) === 0xd800
    ) {
      return undefined;
    }
    // A code point above U+FFFF becomes a surrogate pair: both units are written, the second kept only then.
    const astral = (0xffff - codePoint) >>> 31;
    const offset = codePoint - 0x1_0000;
    const high = 0xd800 | ((offset >> 10) & 0x3ff);
    units[n] = codePoint ^ ((codePoint ^ high) & -astral);
    units[n + 1] = 0xdc00 | (offset & 0x3ff);
    n += 1 + astral;
    seen |= codePoint;
    p += length;
  }
  while (p < end) {
    const b0 = view[p] as number;
    if (b0 < 0x80) {
      units[n++] = b0;
      p += 1;
      continue;
    }
    if (b0 < 0xc2) return undefined; // a continuation byte first, or an overlong 2-byte form
    if (b0 < 0xe0) {
      if (p + 1 >= end) return undefined;
      const b1 = view[p + 1] as number;
      if ((b1 & 0xc0) !== 0x80) return undefined;
      const unit = ((b0 & 0x1f) << 6) | (b1 & 0x3f);
      units[n++] = unit;
      seen |= unit;
      p += 2;
      continue;
    }
    if (b0 < 0xf0) {
      if (p + 2 >= end) return undefined;
      const b1 = view[p + 1] as number;
      const b2 = view[p + 2] as number;
      if ((b1 & 0xc0) !== 0x80 || (b2 & 0xc0) !== 0x80) return undefined;
      const unit = ((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f);
      // Overlong (below U+0800) or a surrogate (U+D800-U+DFFF), which UTF-8 must not encode.
      if (unit < 0x800 || (unit >= 0xd800 && unit <= 0xdfff)) return undefined;
      units[n++] = unit;
      seen |= unit;
      p += 3;
      continue;
    }
    if (b0 > 0xf4 || p + 3 >= end) return undefined;
    const b1 = view[p + 1] as number;
    const b2 = view[p + 2] as number;
    const b3 = view[p + 3] as number;
    if ((b1 & 0xc0) !== 0x80 || (b2 & 0xc0) !== 0x80 || (b3 & 0xc0) !== 0x80) return undefined;
    const codePoint = ((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f);
    // Overlong (below U+10000) or beyond Unicode.
    if (codePoint < 0x1_0000 || codePoint > 0x10_ffff) return undefined;
    const offset = codePoint - 0x1_0000;
    units[n++] = 0xd800 | (offset >> 10);
    units[n++] = 0xdc00 | (offset & 0x3ff);
    seen |= 0xd800;
    p += 4;
  }
  return fromUnits(bytes, start, end, n, seen);
}
