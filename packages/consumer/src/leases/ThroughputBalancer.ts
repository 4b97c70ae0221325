import type { Lease } from './Lease.js';
import type { LeaseRenewer } from './LeaseRenewer.js';

/** One lease as the balancer weighs it. */
export interface LoadedLease {
  readonly leaseKey: string;
  /** The worker the lease belongs to (during a handoff: the one it is being handed to). */
  readonly owner: string;
  /** Its `throughputKBps` from the table; `undefined` when never measured (no plan is made then). */
  readonly kbps: number | undefined;
}

/** What one worker sees after a scan. */
export interface BalanceView {
  readonly me: string;
  /** The live workers, this one included: the only possible owners and targets. */
  readonly workers: readonly string[];
  readonly leases: readonly LoadedLease[];
  /** Whether this worker may hand one of its leases over now (not moved lately, not already leaving). */
  readonly movable: (leaseKey: string) => boolean;
  /**
   * Acceptable deviation from the fair share, as a fraction of it: a worker acts only above
   * `fair * (1 + tolerance)`, and a move must lower the larger of the two workers' loads by
   * `fair * tolerance` at least.
   */
  readonly tolerance: number;
}

/** A lease this worker should hand over, and to whom. */
export interface Move {
  readonly leaseKey: string;
  readonly to: string;
  readonly kbps: number;
}

/**
 * A lease weighs at least this much (KiB/s): an idle fleet is then balanced by lease count, and leases that
 * carry nearly nothing are spread like any others.
 */
export const FLOOR_KBPS = 0.1;

/**
 * Leaderless throughput balancing: every worker computes the same plan from the same table, and only the
 * worker the plan names acts, so the fleet makes one move per cycle without a lock or a leader.
 *
 * The plan: the most loaded worker that has a lease whose move to the least loaded worker lowers the larger
 * of their two loads by the margin (`tolerance * fair share`) hands over the lease whose weight is closest to
 * half their difference. Each such move strictly lowers the sum of squared loads by a bounded amount, so moves
 * stop; and since the moved lease never makes the receiver the heavier of the two, it never comes straight
 * back. A worker that dies simply stops acting; the others' plans no longer include it.
 */
export function planMove(view: BalanceView): Move | undefined {
  const workers = [...new Set([...view.workers, view.me])].sort();
  if (workers.length < 2) return undefined;
  const load = new Map<string, number>(workers.map((worker) => [worker, 0]));
  const owned = new Map<string, LoadedLease[]>();
  let total = 0;
  for (const lease of view.leases) {
    const current = load.get(lease.owner);
    if (current === undefined) continue; // a dead or foreign owner: its leases are the taker's business
    // Not measured yet (new, or taken before anyone measured it): its owner writes a value within one
    // averaging window, so wait rather than move leases on a guess that must be undone later.
    if (lease.kbps === undefined) return undefined;
    const weight = weightOf(lease);
    load.set(lease.owner, current + weight);
    total += weight;
    const list = owned.get(lease.owner);
    if (list) list.push(lease);
    else owned.set(lease.owner, [lease]);
  }
  const fair = total / workers.length;
  const margin = fair * view.tolerance;
  const loadOf = (worker: string): number => load.get(worker) ?? 0;
  const byLoad = [...workers].sort((a, b) => loadOf(b) - loadOf(a) || (a < b ? -1 : 1));
  const target = byLoad[byLoad.length - 1] as string;
  for (const worker of byLoad) {
    if (loadOf(worker) <= fair + margin || worker === target) return undefined;
    const gap = loadOf(worker) - loadOf(target);
    // The plan as every worker sees it: others' cooldowns are unknown here, so only the actor filters its own.
    const candidates = (owned.get(worker) ?? []).filter(
      (lease) => weightOf(lease) > margin && weightOf(lease) < gap - margin,
    );
    if (candidates.length === 0) continue; // e.g. one hot shard alone: nothing this worker can usefully give
    if (worker !== view.me) return undefined; // its move, not ours
    const best = candidates
      .filter((lease) => view.movable(lease.leaseKey))
      .sort(
        (a, b) =>
          Math.abs(weightOf(a) - gap / 2) - Math.abs(weightOf(b) - gap / 2) ||
          (a.leaseKey < b.leaseKey ? -1 : 1),
      )[0];
    return best && { leaseKey: best.leaseKey, to: target, kbps: weightOf(best) };
  }
  return undefined;
}

function weightOf(lease: LoadedLease): number {
  return Math.max(lease.kbps ?? 0, FLOOR_KBPS);
}

/** Options for {@link ThroughputBalancer}. */
export interface ThroughputBalancerOptions {
  renewer: LeaseRenewer;
  workerId: string;
  now: () => number;
  /** See {@link BalanceView.tolerance}. */
  tolerance: number;
  /** A lease handed over to this worker less than this long ago (ms) is not handed on. */
  cooldownMs: number;
  /** When a held lease was handed over to this worker (`undefined`: it was not). */
  handedOverAt: (leaseKey: string) => number | undefined;
  /** This worker handed one of its leases to `to` to balance the load (the table recorded the handoff). */
  onBalanceMove?: ((lease: Lease, to: string) => void) | undefined;
  onError?: ((error: unknown, leaseKey: string) => void) | undefined;
}

/**
 * The balancing step of a taker cycle in throughput mode: builds this worker's view from the scan, and when the
 * shared plan ({@link planMove}) names this worker, hands the lease over through the renewer (graceful handoff).
 */
export class ThroughputBalancer {
  readonly #options: ThroughputBalancerOptions;
  /**
   * Whether the last step made no plan because a live worker's lease is not measured yet: the answer comes
   * with that owner's renewals, not with a lease change, so the caller should look again soon.
   */
  waiting = false;

  constructor(options: ThroughputBalancerOptions) {
    this.#options = options;
  }

  /**
   * One step on the leases of a scan (`expired` ones and unowned ones are the taker's business). Returns
   * whether it tried to move a lease (then balancing is under way). Failures are reported, never thrown.
   */
  async step(
    active: readonly Lease[],
    expired: (lease: Lease) => boolean,
    held: ReadonlySet<string>,
    liveWorkerIds: readonly string[] | undefined,
  ): Promise<boolean> {
    const { workerId, renewer, cooldownMs } = this.#options;
    const leases: LoadedLease[] = [];
    const owners = new Set<string>();
    for (const lease of active) {
      if (lease.leaseOwner === undefined || expired(lease)) continue;
      owners.add(lease.leaseOwner);
      leases.push({ leaseKey: lease.leaseKey, owner: lease.leaseOwner, kbps: lease.throughputKBps });
    }
    const at = this.#options.now();
    const workers = liveWorkerIds ? [...liveWorkerIds, workerId] : [...owners, workerId];
    this.waiting = leases.some((lease) => lease.kbps === undefined && workers.includes(lease.owner));
    const move = planMove({
      me: workerId,
      workers,
      leases,
      tolerance: this.#options.tolerance,
      movable: (key) =>
        held.has(key) &&
        !renewer.isHandingOff(key) &&
        at - (this.#options.handedOverAt(key) ?? Number.NEGATIVE_INFINITY) >= cooldownMs,
    });
    if (!move) return false;
    const lease = active.find((candidate) => candidate.leaseKey === move.leaseKey);
    try {
      if ((await renewer.handOver(move.leaseKey, move.to)) && lease)
        this.#options.onBalanceMove?.(lease, move.to);
    } catch (error) {
      this.#options.onError?.(error, move.leaseKey);
    }
    return true;
  }
}
