import { ConsumerError } from '../errors.js';

/**
 * The states one shard consumer goes through, in the order they normally come:
 *
 * - `waiting-on-parents`: the lease is held, but a parent shard's lease exists and is not at `SHARD_END` yet;
 *   reading this shard now would break per-key order across a split or merge, so it polls the parents.
 * - `initializing`: the processor's `initialize` runs (retried until it succeeds) and the record source
 *   (polling or fan-out) is created at the checkpoint.
 * - `processing`: batches flow from the record source through de-aggregation and the batch runner (retries,
 *   poison records, checkpoints). The shard consumer does not know which retrieval mode feeds it.
 * - `shard-ended`: the source read the shard's last record; child leases are created and `shardEnded` must
 *   checkpoint `SHARD_END` before the children may start anywhere.
 * - `handing-off`: another worker asked for the lease (graceful handoff): the batch in flight finishes and
 *   `shutdownRequested` lets the processor checkpoint before the lease is transferred.
 * - `shutting-down`: `stop()`: the same as handing off, but the lease is released rather than transferred.
 * - `done`: the consumer has ended (also after a lost lease: the processor got `leaseLost`).
 *
 * A lost lease (or a failure) ends any state at once, hence `done` is reachable from everywhere.
 */
export type ShardConsumerState =
  | 'waiting-on-parents'
  | 'initializing'
  | 'processing'
  | 'shard-ended'
  | 'handing-off'
  | 'shutting-down'
  | 'done';

/** Every legal transition, in one place. */
const TRANSITIONS: Readonly<Record<ShardConsumerState, readonly ShardConsumerState[]>> = {
  'waiting-on-parents': ['initializing', 'handing-off', 'shutting-down', 'done'],
  initializing: ['processing', 'handing-off', 'shutting-down', 'done'],
  processing: ['shard-ended', 'handing-off', 'shutting-down', 'done'],
  // shardEnded that did not complete before a stop or a handoff: the processor may still checkpoint.
  'shard-ended': ['handing-off', 'shutting-down', 'done'],
  'handing-off': ['done'],
  'shutting-down': ['done'],
  done: [],
};

/** A transition not in the table was attempted: a bug in this package, never caused by the caller. */
export class IllegalStateTransitionError extends ConsumerError {
  constructor(shardId: string, from: ShardConsumerState, to: ShardConsumerState) {
    super('INTERNAL', `shard consumer ${shardId}: illegal transition ${from} -> ${to}`);
  }
}

/** The state of one shard consumer; the only place it changes. */
export class ConsumerStates {
  readonly #shardId: string;
  readonly #onChange: ((from: ShardConsumerState, to: ShardConsumerState) => void) | undefined;
  #state: ShardConsumerState = 'waiting-on-parents';

  constructor(shardId: string, onChange?: (from: ShardConsumerState, to: ShardConsumerState) => void) {
    this.#shardId = shardId;
    this.#onChange = onChange;
  }

  get current(): ShardConsumerState {
    return this.#state;
  }

  /** Whether `to` may follow the current state. */
  canMoveTo(to: ShardConsumerState): boolean {
    return TRANSITIONS[this.#state].includes(to);
  }

  /** Moves to `to`; staying in the current state is a no-op. Throws on a transition not in the table. */
  moveTo(to: ShardConsumerState): void {
    const from = this.#state;
    if (from === to) return;
    if (!this.canMoveTo(to)) throw new IllegalStateTransitionError(this.#shardId, from, to);
    this.#state = to;
    this.#onChange?.(from, to);
  }
}
