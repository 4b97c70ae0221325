import type { LeaseRenewer } from './LeaseRenewer.js';
import { LivenessMonitor } from './LivenessMonitor.js';
import type { WorkerStore } from './WorkerStore.js';

/** Options for {@link WorkerLiveness}. */
export interface WorkerLivenessOptions {
  store: WorkerStore;
  renewer: LeaseRenewer;
  workerId: string;
  failoverTimeMs: number;
  now: () => number;
  onError?: (error: unknown, operation: string) => void;
}

/** What one look at the other workers found. */
export interface LivenessLook {
  /** Scan the lease table now: a worker died, changed its leases, or left. */
  cue: boolean;
  /** A worker handed a lease over: the receiver may find it through the owner index instead. */
  transferCue: boolean;
  /** Workers confirmed dead: their leases may be taken whatever their counters say. */
  dead: ReadonlySet<string>;
  /** Of those, the ones found dead by this look. */
  newlyDead: string[];
}

/** A dead worker's record is deleted after this many failover periods (it may have been paused, not dead). */
const FORGET_DEAD_AFTER_FAILOVERS = 30;

/**
 * This worker's heartbeat and its view of the others': writes the heartbeat (and with it the count of lease
 * changes others may act on), reads everyone's with one small scan, and confirms a death with one consistent
 * read before anyone's leases are taken for it.
 */
export class WorkerLiveness {
  readonly #options: WorkerLivenessOptions;
  readonly #monitor: LivenessMonitor;
  #leaseChanges = 0;
  #transfers = 0;
  #beating: Promise<void> | undefined;
  #beatAgain = false;

  constructor(options: WorkerLivenessOptions) {
    this.#options = options;
    this.#monitor = new LivenessMonitor({
      workerId: options.workerId,
      failoverTimeMs: options.failoverTimeMs,
    });
  }

  /** Creates the heartbeat table if needed and writes the first heartbeat (before any lease is taken). */
  async start(): Promise<void> {
    await this.#options.store.ensureTable();
    await this.beat();
  }

  /** Writes the heartbeat; the renewer holds leases only while the last one landed recently. */
  async beat(): Promise<void> {
    const sentAt = this.#options.now();
    await this.#options.store.heartbeat(this.#options.workerId, this.#leaseChanges, this.#transfers);
    this.#options.renewer.heartbeatSent(sentAt);
  }

  /**
   * This worker released or created leases (`'other'`: anyone may take them, so everyone scans), or
   * transferred one to the worker that it was handed to (`'transfer'`: only that one acts): tell the others now
   * (one extra heartbeat).
   */
  changed(kind: 'transfer' | 'other' = 'other'): void {
    if (kind === 'transfer') this.#transfers++;
    else this.#leaseChanges++;
    this.beatSoon();
  }

  /**
   * Writes the heartbeat without waiting for it (renewals must not wait behind a slow heartbeat write); while
   * one is in flight, one more follows it.
   */
  beatSoon(): void {
    if (this.#beating) {
      this.#beatAgain = true;
      return;
    }
    this.#beating = (async () => {
      do {
        this.#beatAgain = false;
        await this.beat().catch((error: unknown) => this.#options.onError?.(error, 'heartbeat'));
      } while (this.#beatAgain);
      this.#beating = undefined;
    })();
  }

  /** Reads every worker's heartbeat and judges them (store errors reject). */
  async look(): Promise<LivenessLook> {
    const { store, now } = this.#options;
    const workers = await store.listWorkers();
    const report = this.#monitor.observe(workers, now());
    const newlyDead: string[] = [];
    for (const workerId of report.suspects) {
      if (this.#monitor.confirm(workerId, await store.getWorker(workerId), now())) newlyDead.push(workerId);
    }
    for (const { workerId, heartbeat } of this.#monitor.longDead(
      now(),
      FORGET_DEAD_AFTER_FAILOVERS * this.#options.failoverTimeMs,
    )) {
      await store.removeWorker(workerId, heartbeat);
    }
    return {
      cue: report.cue || newlyDead.length > 0,
      transferCue: report.transferCue,
      dead: this.#monitor.dead(),
      newlyDead,
    };
  }

  /** The other workers that look alive (by their heartbeats). */
  liveWorkerIds(): string[] {
    return this.#monitor.liveWorkerIds();
  }

  /** Other workers that look alive. */
  get liveWorkers(): number {
    return this.#monitor.liveWorkers;
  }

  /** At `stop()`, after the leases are released: deleting the record tells the others at once. */
  async leave(): Promise<void> {
    await this.#beating;
    await this.#options.store.removeWorker(this.#options.workerId);
  }
}
