import { Writable } from 'node:stream';
import type { PutOutcomeCallback } from './settlement/RecordBatch.js';
import type { FlushResult, ProducerRecord } from './types.js';

/** Options of `producer.writable()`. */
export interface ProducerWritableOptions {
  /**
   * Records the stream itself holds before `write()` returns false, on top of the producer's buffer. They
   * are handed to the producer together (one batch per turn), so a larger value means fewer, larger batches.
   * @defaultValue `16`
   */
  highWaterMark?: number | undefined;
  /**
   * Called for each record whose put fails. Without it the first failure errors the stream (at the next
   * write or at the end), as `pipeline()` users expect.
   * @defaultValue `undefined`
   */
  onRecordError?: ((error: Error, record: ProducerRecord) => void) | undefined;
}

/** The part of the producer the adapter uses. */
export interface WritableTarget {
  putEach(records: readonly ProducerRecord[], onOutcome: PutOutcomeCallback): Promise<void>;
  flush(): Promise<FlushResult>;
}

/**
 * An object-mode `Writable` that hands the records written to it to `putEach` and calls back once they are in
 * the producer's buffer, without waiting for Kinesis: `putEach` waits for buffer room, so the producer's
 * bounds hold memory and the stream flows at the speed Kinesis accepts; no promise is made per record. `final`
 * flushes, so `pipeline()` completes only when every record has settled.
 */
export function createProducerWritable(target: WritableTarget, options: ProducerWritableOptions): Writable {
  const { onRecordError, highWaterMark = 16 } = options;
  let failure: Error | undefined;
  const admit = (records: ProducerRecord[], callback: (error?: Error | null) => void): void => {
    if (failure !== undefined) {
      callback(failure);
      return;
    }
    const onOutcome: PutOutcomeCallback = (error, _result, index) => {
      if (error === undefined) return;
      if (onRecordError !== undefined) onRecordError(error, records[index] as ProducerRecord);
      else failure ??= error;
    };
    target.putEach(records, onOutcome).then(
      () => callback(failure ?? null),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
    );
  };
  return new Writable({
    objectMode: true,
    highWaterMark,
    write(chunk: ProducerRecord, _encoding, callback) {
      admit([chunk], callback);
    },
    writev(chunks, callback) {
      admit(
        chunks.map((entry) => entry.chunk as ProducerRecord),
        callback,
      );
    },
    final(callback) {
      target.flush().then(
        () => callback(failure ?? null),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
    },
  });
}
