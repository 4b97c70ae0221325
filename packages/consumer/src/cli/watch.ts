/** ANSI: cursor home, then clear the screen from there. */
export const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/** Options of {@link watch}. */
export interface WatchOptions {
  intervalMs: number;
  /** Redraw in place (a terminal) instead of printing snapshots one after another (a pipe or file). */
  tty: boolean;
  signal: AbortSignal;
  /** One snapshot, as text ending in a newline. */
  render: () => Promise<string>;
  write: (text: string) => Promise<void>;
}

/**
 * Renders a snapshot every `intervalMs` until the signal aborts: on a terminal, each redraws the screen;
 * otherwise successive snapshots are separated by a blank line, so the output can be piped and logged.
 */
export async function watch(options: WatchOptions): Promise<void> {
  for (let first = true; !options.signal.aborted; first = false) {
    const text = await options.render();
    if (options.signal.aborted) return;
    await options.write(options.tty ? `${CLEAR_SCREEN}${text}` : first ? text : `\n${text}`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, options.intervalMs);
      function done(): void {
        clearTimeout(timer);
        options.signal.removeEventListener('abort', done);
        resolve();
      }
      options.signal.addEventListener('abort', done, { once: true });
    });
  }
}
