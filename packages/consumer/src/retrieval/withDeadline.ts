/**
 * Nothing arrived on a subscription for the read timeout. The cause inside the `FetchError` reported for it;
 * retriable, like any network failure.
 */
export class ReadTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(timeoutMs: number) {
    super(`nothing received for ${timeoutMs} ms`);
    this.name = 'ReadTimeout';
  }
}

/**
 * `promise`, unless `timeoutMs` passes first (then `controller` is aborted, closing the HTTP/2 stream, and a
 * {@link ReadTimeoutError} is thrown) or `controller` is aborted (then an AbortError; the caller tells a stop
 * from a failure by its own signal). The losing promise is left to settle on its own, its rejection handled,
 * so a stream that never answers cannot hang the caller.
 */
export function withDeadline<T>(
  promise: Promise<T>,
  timeoutMs: number,
  controller: AbortController,
): Promise<T> {
  promise.catch(() => undefined);
  const signal = controller.signal;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(Object.assign(new Error('subscription aborted'), { name: 'AbortError' }));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      reject(new ReadTimeoutError(timeoutMs));
      controller.abort();
    }, timeoutMs);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
