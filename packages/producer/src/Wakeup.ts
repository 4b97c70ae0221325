/**
 * When the producer's loop runs next: `soon()` (after pending I/O, coalesced) or `at(time)` (one timer, kept
 * at the earliest time asked for). The loop itself works out what is due; this only decides when to look.
 */
export class Wakeup {
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private queued = false;

  constructor(private readonly run: () => void) {}

  /** Runs once after the current I/O phase; many calls before then still run it once. */
  soon(): void {
    if (this.queued) return;
    this.queued = true;
    setImmediate(() => {
      this.queued = false;
      this.run();
    });
  }

  /** Runs at `time` (epoch ms) unless an earlier run is already set. */
  at(time: number): void {
    if (time >= this.timerAt) return;
    this.cancel();
    this.timerAt = time;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.run();
      },
      Math.max(0, time - Date.now()),
    );
  }

  /** Drops the timer (a queued `soon()` still runs: it finds nothing to do). */
  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }
}
