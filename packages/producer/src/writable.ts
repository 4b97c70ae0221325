import { Writable } from 'node:stream';
import { BufferFullError } from './errors.js';
import type { FlushResult, ProducerRecord, PutResult } from './types.js';

/** Options of `producer.writable()`. */
export interface ProducerWritableOptions {
  /**
   * Records the stream itself holds before `write()` returns false, on top of the producer's buffer.
   * @defaultValue `16`
   */
  highWaterMark?: number | undefined;
  /**
   * Called for each record whose put rejects. Without it the first failure errors the stream (at the next
   * write or at the end), as `pipeline()` users expect.
   * @defaultValue `undefined`
   */
  onRecordError?: ((error: Error, record: ProducerRecord) => void) | undefined;
}

/** The part of the producer the adapter uses. */
export interface WritableTarget {
  put(record: ProducerRecord): Promise<PutResult>;
  waitForCapacity(bytes?: number): Promise<void>;
  hasCapacity(bytes?: number): boolean;
  readonly isClosed: boolean;
  flush(): Promise<FlushResult>;
}

// Bounds the wait loop of one write (another caller may take the room a wait was woken for).
const MAX_CAPACITY_ROUNDS = 1_000;

/**
 * An object-mode `Writable` that puts each record once the producer has room for it and calls back without
 * waiting for Kinesis: the producer's buffer bounds memory, and the stream flows at the speed Kinesis
 * accepts. `final` flushes, so `pipeline()` completes only when every record has settled.
 */
export function createProducerWritable(target: WritableTarget, options: ProducerWritableOptions): Writable {
  const { onRecordError, highWaterMark = 16 } = options;
  let failure: Error | undefined;
  const onError = (error: unknown, record: ProducerRecord): void => {
    const err = error instanceof Error ? error : new Error(String(error));
    if (onRecordError !== undefined) onRecordError(err, record);
    else failure ??= err;
  };
  const admit = async (record: ProducerRecord): Promise<void> => {
    const bytes = sizeHint(record);
    for (let round = 0; round < MAX_CAPACITY_ROUNDS; round++) {
      await target.waitForCapacity(bytes);
      // Checked and put in the same turn of the event loop, so no other writer can take the room between.
      if (!target.hasCapacity(bytes) && !target.isClosed) continue;
      target.put(record).catch((error: unknown) => onError(error, record));
      return;
    }
    throw new BufferFullError('no buffer capacity after repeated waits');
  };
  return new Writable({
    objectMode: true,
    highWaterMark,
    write(chunk: ProducerRecord, _encoding, callback) {
      if (failure !== undefined) {
        callback(failure);
        return;
      }
      admit(chunk).then(() => callback(failure ?? null), callback);
    },
    final(callback) {
      target.flush().then(
        () => callback(failure ?? null),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
    },
  });
}

function sizeHint(record: ProducerRecord): number {
  if (typeof record !== 'object' || record === null) return 0;
  const data = record.data;
  const dataBytes =
    typeof data === 'string' ? Buffer.byteLength(data) : data instanceof Uint8Array ? data.length : 0;
  return dataBytes + (typeof record.partitionKey === 'string' ? Buffer.byteLength(record.partitionKey) : 0);
}
