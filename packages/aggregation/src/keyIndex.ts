// De-duplication of the keys in an aggregate's key tables. A Map<string, number> costs about 90 ns per new
// key at the table sizes of a 1 MiB aggregate (two probes into a large hash table, each reading scattered
// string headers), which was half of the aggregator's per-record time with unique keys. This open-addressing
// table stores each key's 32-bit hash beside its index in typed arrays, so a miss (the common case) touches
// no string at all; the hash comes free from the pass that serializes the key (KeyTableBuilder.stage).

const INITIAL_SLOTS = 1024;

/** Maps keys to their table index, given each key's hash. Grows as needed; cleared per aggregate. */
export class KeyIndex {
  // slot -> entry index + 1 (0 = empty). Kept at most half full, so probes stay short.
  private slots = new Int32Array(INITIAL_SLOTS);
  private hashes = new Int32Array(INITIAL_SLOTS / 2);
  // Kept at its largest length (bounded by the largest table seen) so that filling it again allocates nothing;
  // cleared slots hold '' so the array stays one elements kind.
  private readonly keys: string[] = [];
  private mask = INITIAL_SLOTS - 1;
  // Where the last miss of find() ended, and for which hash, so that insert() need not probe again.
  private freeSlot = -1;
  private freeSlotHash = 0;
  /** Number of keys. */
  size = 0;

  /** The index of `key`, or -1. `hash` must be the one given to {@link insert} for the same key. */
  find(key: string, hash: number): number {
    const slots = this.slots;
    for (let slot = hash & this.mask; ; slot = (slot + 1) & this.mask) {
      const entry = slots[slot] as number;
      if (entry === 0) {
        this.freeSlot = slot;
        this.freeSlotHash = hash;
        return -1;
      }
      if (this.hashes[entry - 1] === hash && this.keys[entry - 1] === key) return entry - 1;
    }
  }

  /**
   * Adds `key`, which must be absent, and returns its index (the number of keys before it). Cheapest right
   * after a {@link find} of the same key missed.
   */
  insert(key: string, hash: number): number {
    let slot = this.freeSlot;
    this.freeSlot = -1;
    if ((this.size + 1) * 2 > this.slots.length) {
      this.grow();
      slot = -1;
    }
    const index = this.size++;
    this.keys[index] = key;
    this.hashes[index] = hash;
    if (slot >= 0 && hash === this.freeSlotHash) this.slots[slot] = index + 1;
    else this.place(index, hash);
    return index;
  }

  /** Forgets every key (keeping the capacity, bounded by the largest table seen). */
  clear(): void {
    this.slots.fill(0);
    this.freeSlot = -1;
    // Drop the string references; both arrays are reused.
    this.keys.fill('', 0, this.size);
    this.size = 0;
  }

  private place(index: number, hash: number): void {
    let slot = hash & this.mask;
    while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask;
    this.slots[slot] = index + 1;
  }

  private grow(): void {
    const capacity = this.slots.length * 2;
    this.slots = new Int32Array(capacity);
    this.mask = capacity - 1;
    const hashes = new Int32Array(capacity / 2);
    hashes.set(this.hashes);
    this.hashes = hashes;
    for (let i = 0; i < this.size; i++) this.place(i, hashes[i] as number);
  }
}
