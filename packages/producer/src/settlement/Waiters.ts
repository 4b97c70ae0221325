import type { FlushResult } from '../types.js';

interface FlushWaiter {
  upTo: number;
  remaining: number;
  result: FlushResult;
  resolve: (result: FlushResult) => void;
}

/** `flush()` callers, each waiting for the records put before its call (sequence `<= upTo`) to settle. */
export class FlushWaiters {
  private waiters: FlushWaiter[] = [];

  /** Waits for `remaining` records with sequence numbers up to `upTo` (all pending ones at the call). */
  add(upTo: number, remaining: number): Promise<FlushResult> {
    return new Promise<FlushResult>((resolve) => {
      this.waiters.push({ upTo, remaining, result: { succeeded: 0, failed: 0 }, resolve });
    });
  }

  /** Counts a settled record toward every flush that waits for it; resolves the completed ones. */
  settled(seq: number, success: boolean): void {
    if (this.waiters.length === 0) return;
    let done = false;
    for (const waiter of this.waiters) {
      if (seq > waiter.upTo) continue;
      if (success) waiter.result.succeeded += 1;
      else waiter.result.failed += 1;
      waiter.remaining -= 1;
      if (waiter.remaining === 0) done = true;
    }
    if (!done) return;
    const finished = this.waiters.filter((waiter) => waiter.remaining === 0);
    this.waiters = this.waiters.filter((waiter) => waiter.remaining > 0);
    for (const waiter of finished) waiter.resolve(waiter.result);
  }
}

interface CapacityWaiter {
  bytes: number;
  resolve: () => void;
}

/** `waitForCapacity()` callers, woken in arrival order once a record of their size would fit. */
export class CapacityWaiters {
  private waiters: CapacityWaiter[] = [];

  wait(bytes: number, signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      if (signal === undefined) {
        this.waiters.push({ bytes, resolve });
        return;
      }
      const onAbort = (): void => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(signal.reason);
      };
      // The listener goes when the wait ends either way: callers often pass one long-lived (shutdown)
      // signal to every wait, which would otherwise collect a listener per wait.
      const waiter: CapacityWaiter = {
        bytes,
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.waiters.push(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Wakes every waiter whose record would fit now. */
  wake(hasCapacity: (bytes: number) => boolean): void {
    if (this.waiters.length === 0) return;
    const waiting: CapacityWaiter[] = [];
    for (const waiter of this.waiters) {
      if (hasCapacity(waiter.bytes)) waiter.resolve();
      else waiting.push(waiter);
    }
    this.waiters = waiting;
  }

  /** Wakes everyone (on close: their puts will be refused). */
  releaseAll(): void {
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
  }
}
