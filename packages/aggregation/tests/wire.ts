// Hand-built protobuf pieces for tests that need shapes no encoder writes (odd field order, unknown fields).

export function varint(value: number | bigint): number[] {
  let rest = BigInt(value);
  const out: number[] = [];
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
  return out;
}

export function tag(field: number, wireType: number): number[] {
  return varint(field * 8 + wireType);
}

export function lengthDelimited(field: number, payload: number[] | Uint8Array | string): number[] {
  const bytes = typeof payload === 'string' ? [...Buffer.from(payload, 'utf8')] : [...payload];
  return [...tag(field, 2), ...varint(bytes.length), ...bytes];
}

export function varintField(field: number, value: number | bigint): number[] {
  return [...tag(field, 0), ...varint(value)];
}

export function record(pkIndex: number, data: string, ehkIndex?: number, extra: number[] = []): number[] {
  const body = [
    ...varintField(1, pkIndex),
    ...(ehkIndex === undefined ? [] : varintField(2, ehkIndex)),
    ...lengthDelimited(3, data),
    ...extra,
  ];
  return lengthDelimited(3, body);
}
