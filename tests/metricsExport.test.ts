/**
 * The producer and the consumer must not import each other, so the metric exporters' shared core is kept as
 * identical copies in both packages: a change to one must be made to the other.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

describe('metric exporters', () => {
  it.each(['core.ts', 'otel.ts'])('keep src/export/%s identical in the producer and the consumer', (file) => {
    const producer = readFileSync(join(root, 'packages/producer/src/export', file), 'utf8');
    const consumer = readFileSync(join(root, 'packages/consumer/src/export', file), 'utf8');
    expect(consumer).toBe(producer);
  });
});
