// Strings of an aggregate's key tables, decoded from UTF-8. Node's `toString('utf8')` takes a fast path
// only for ASCII; for a key with multi-byte characters it costs about 20 ns per byte (a 40-byte key of
// Cyrillic or CJK: ~380 ns, more than all the rest of a 64 B user record's decoding). Decoding such a key
// here into UTF-16 units and handing them to Node as one copy costs about a quarter of that. Only valid
// UTF-8 is decoded here; anything else goes back to Node's decoder, so replacement characters for invalid
// input are exactly what they always were.

/** Keys longer than this (in bytes) always go to Node's decoder: the scratch below stays small. */
const MAX_SCRATCH_BYTES = 1024;

// UTF-8 needs at most one UTF-16 unit per byte, so MAX_SCRATCH_BYTES units always suffice.
const unitsBuffer = Buffer.alloc(MAX_SCRATCH_BYTES * 2);
const units = new Uint16Array(unitsBuffer.buffer, unitsBuffer.byteOffset, MAX_SCRATCH_BYTES);
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

  /** Starts a new aggregate in Node's (ASCII-fast) mode. */
  reset(): void {
    this.multiByte = false;
  }

  /** The string of the UTF-8 bytes `bytes[start, end)`, exactly as `bytes.toString('utf8', start, end)`. */
  decode(bytes: Buffer, start: number, end: number): string {
    if (this.multiByte) {
      const text = decodeValidUtf8(bytes, start, end);
      if (text !== undefined) return text;
      return utf8Slice.call(bytes, start, end);
    }
    const text = utf8Slice.call(bytes, start, end);
    // Fewer UTF-16 units than bytes: multi-byte characters (or invalid bytes) were there.
    if (text.length !== end - start && LITTLE_ENDIAN) this.multiByte = true;
    return text;
  }
}

/**
 * Decodes `bytes[start, end)` if it is valid UTF-8 (no overlong forms, no surrogates, nothing above
 * U+10FFFF, no truncated sequence) and not longer than the scratch; otherwise returns undefined.
 */
export function decodeValidUtf8(bytes: Buffer, start: number, end: number): string | undefined {
  if (!LITTLE_ENDIAN || end - start > MAX_SCRATCH_BYTES) return undefined;
  let n = 0;
  // Bitwise OR of every unit: tells ASCII-only and Latin-1-only keys apart at the end.
  let seen = 0;
  let p = start;
  while (p < end) {
    const b0 = bytes[p] as number;
    if (b0 < 0x80) {
      units[n++] = b0;
      p += 1;
      continue;
    }
    if (b0 < 0xc2) return undefined; // a continuation byte first, or an overlong 2-byte form
    if (b0 < 0xe0) {
      if (p + 1 >= end) return undefined;
      const b1 = bytes[p + 1] as number;
      if ((b1 & 0xc0) !== 0x80) return undefined;
      const unit = ((b0 & 0x1f) << 6) | (b1 & 0x3f);
      units[n++] = unit;
      seen |= unit;
      p += 2;
      continue;
    }
    if (b0 < 0xf0) {
      if (p + 2 >= end) return undefined;
      const b1 = bytes[p + 1] as number;
      const b2 = bytes[p + 2] as number;
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
    const b1 = bytes[p + 1] as number;
    const b2 = bytes[p + 2] as number;
    const b3 = bytes[p + 3] as number;
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
  if (seen < 0x80) return latin1Slice.call(bytes, start, end);
  if (seen < 0x100) {
    for (let i = 0; i < n; i++) latin1Buffer[i] = units[i] as number;
    return latin1Slice.call(latin1Buffer, 0, n);
  }
  return ucs2Slice.call(unitsBuffer, 0, n * 2);
}
