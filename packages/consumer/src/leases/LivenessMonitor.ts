import type { WorkerHeartbeat } from './WorkerStore.js';

/** Options for {@link LivenessMonitor}. */
export interface LivenessMonitorOptions {
  /** This worker: never judged. */
  workerId: string;
  failoverTimeMs: number;
}

/** What one look at the heartbeat table found. */
export interface LivenessReport {
  /** Workers whose heartbeat has stood still for `failoverTimeMs`: confirm each with a consistent read. */
  suspects: string[];
  /** Something others may act on happened: a worker changed leases, or left (its record was deleted). */
  cue: boolean;
  /** A worker transferred a lease to a named worker: that worker may look up its own leases (no scan). */
  transferCue: boolean;
}

interface Seen {
  heartbeat: number;
  leaseChanges: number;
  transfers: number;
  /** Local monotonic time at which this worker first saw the current heartbeat value. */
  seenAt: number;
  /** Confirmed dead at this local time; cleared when the heartbeat moves again. */
  deadSince: number | undefined;
}

/**
 * Judges other workers alive or dead from their heartbeats, by this worker's own clock, the way the KCL judges
 * a lease by its counter: a heartbeat first seen at `t` that has not moved by `t + failoverTimeMs` means the
 * worker is gone, because a worker keeps its leases only while its own last heartbeat was sent less than
 * `failoverTimeMs` ago (the renewer fences itself). One small read of every worker's heartbeat thus replaces a
 * scan of every lease: the lease table is scanned only when a worker died, changed its leases, left, or at
 * the slow periodic interval.
 */
export class LivenessMonitor {
  readonly #options: LivenessMonitorOptions;
  readonly #seen = new Map<string, Seen>();

  constructor(options: LivenessMonitorOptions) {
    this.#options = options;
  }

  /** Records one (eventually consistent) read of the heartbeat table, dated when it returned. */
  observe(workers: readonly WorkerHeartbeat[], at: number): LivenessReport {
    let cue = false;
    let transferCue = false;
    const present = new Set<string>();
    for (const worker of workers) {
      if (worker.workerId === this.#options.workerId) continue;
      present.add(worker.workerId);
      const seen = this.#seen.get(worker.workerId);
      if (!seen) {
        this.#seen.set(worker.workerId, { ...pick(worker), seenAt: at, deadSince: undefined });
        continue;
      }
      if (worker.leaseChanges !== seen.leaseChanges) cue = true;
      if (worker.transfers !== seen.transfers) transferCue = true;
      seen.leaseChanges = worker.leaseChanges;
      seen.transfers = worker.transfers;
      if (worker.heartbeat !== seen.heartbeat) {
        // A stale read may show an older value: that too only restarts the clock (a later verdict, never an
        // earlier one).
        seen.heartbeat = worker.heartbeat;
        seen.seenAt = at;
        seen.deadSince = undefined;
      }
    }
    for (const id of [...this.#seen.keys()]) {
      if (!present.has(id)) {
        this.#seen.delete(id);
        cue = true; // it stopped and deleted its record: its leases were released
      }
    }
    const suspects: string[] = [];
    for (const [id, seen] of this.#seen) {
      if (seen.deadSince === undefined && at - seen.seenAt >= this.#options.failoverTimeMs) suspects.push(id);
    }
    return { suspects, cue, transferCue };
  }

  /**
   * The verdict on a suspect from a strongly consistent read made after {@link observe} named it: dead when
   * its heartbeat is still the one seen `failoverTimeMs` ago. Returns whether it was newly found dead.
   */
  confirm(workerId: string, current: WorkerHeartbeat | undefined, at: number): boolean {
    const seen = this.#seen.get(workerId);
    if (!seen) return false;
    if (current !== undefined && current.heartbeat !== seen.heartbeat) {
      seen.heartbeat = current.heartbeat;
      seen.leaseChanges = current.leaseChanges;
      seen.transfers = current.transfers;
      seen.seenAt = at;
      return false;
    }
    seen.deadSince = at;
    return true;
  }

  /** Workers confirmed dead (their leases may be taken whatever their counters say). */
  dead(): ReadonlySet<string> {
    const dead = new Set<string>();
    for (const [id, seen] of this.#seen) if (seen.deadSince !== undefined) dead.add(id);
    return dead;
  }

  /** Dead workers whose records may be deleted (dead for `afterMs`), with the heartbeat to delete on. */
  longDead(at: number, afterMs: number): Array<{ workerId: string; heartbeat: number }> {
    const out: Array<{ workerId: string; heartbeat: number }> = [];
    for (const [workerId, seen] of this.#seen) {
      if (seen.deadSince !== undefined && at - seen.deadSince >= afterMs) {
        out.push({ workerId, heartbeat: seen.heartbeat });
      }
    }
    return out;
  }

  /** The other workers that look alive. */
  liveWorkerIds(): string[] {
    const live: string[] = [];
    for (const [id, seen] of this.#seen) if (seen.deadSince === undefined) live.push(id);
    return live;
  }

  /** How many other workers look alive (for metrics). */
  get liveWorkers(): number {
    let live = 0;
    for (const seen of this.#seen.values()) if (seen.deadSince === undefined) live++;
    return live;
  }
}

function pick(worker: WorkerHeartbeat): { heartbeat: number; leaseChanges: number; transfers: number } {
  return { heartbeat: worker.heartbeat, leaseChanges: worker.leaseChanges, transfers: worker.transfers };
}
