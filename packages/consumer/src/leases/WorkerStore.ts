/** One worker's liveness record: a counter it bumps at every renewal round. */
export interface WorkerHeartbeat {
  readonly workerId: string;
  /** Bumped by the worker at every renewal round; observers judge liveness by whether it moves. */
  readonly heartbeat: number;
  /**
   * Bumped with the heartbeat whenever the worker changed the lease table in a way others may act on
   * (released, transferred or created leases): a cue for them to scan the lease table now.
   */
  readonly leaseChanges: number;
  /**
   * Bumped with the heartbeat whenever the worker transferred a lease to a named worker (a handoff): only that
   * worker has to act, and it finds the lease through the owner index without a scan. `0` when absent.
   */
  readonly transfers: number;
}

/**
 * Storage for worker heartbeats, beside the lease table. Lets every worker tell a dead worker from a live one
 * with one small read instead of a scan of every lease (see `LivenessMonitor`).
 */
export interface WorkerStore {
  /** Creates the table if it does not exist and waits until it is usable. */
  ensureTable(): Promise<void>;
  /** Every worker's heartbeat (an eventually consistent scan: observers only ever delay on stale data). */
  listWorkers(): Promise<WorkerHeartbeat[]>;
  /** One worker's heartbeat, strongly consistent: confirms a death before leases are taken for it. */
  getWorker(workerId: string): Promise<WorkerHeartbeat | undefined>;
  /** Bumps this worker's heartbeat and records its lease-change and transfer counts. */
  heartbeat(workerId: string, leaseChanges: number, transfers?: number): Promise<void>;
  /** Deletes a worker's record: its own at `stop()`, or a dead one's if its heartbeat is still `heartbeat`. */
  removeWorker(workerId: string, heartbeat?: number): Promise<void>;
}
