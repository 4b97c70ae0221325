/**
 * Writes lines to a stream with backpressure, and notices when the reader went away (`| head` closed the
 * pipe: EPIPE): `closed` turns true and `onClose` runs once, so the command stops reading and exits 0.
 */
export class LineWriter {
  readonly #out: NodeJS.WritableStream;
  #closed = false;
  #onClose: (() => void) | undefined;

  constructor(out: NodeJS.WritableStream, onClose?: () => void) {
    this.#out = out;
    this.#onClose = onClose;
    out.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') this.#close();
      else throw error;
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Writes one line; resolves once the stream can take more (or is closed). */
  write(line: string): Promise<void> {
    return this.writeText(`${line}\n`);
  }

  /** Writes text as it is; resolves once the stream can take more (or is closed). */
  async writeText(text: string): Promise<void> {
    if (this.#closed) return;
    if (this.#out.write(text)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.#out.off('drain', done);
        this.#out.off('error', done);
        resolve();
      };
      this.#out.on('drain', done);
      this.#out.on('error', done);
    });
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const onClose = this.#onClose;
    this.#onClose = undefined;
    onClose?.();
  }
}
