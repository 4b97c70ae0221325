/**
 * The demo's live view: a table redrawn in place on a terminal, periodic plain lines otherwise (CI, pipes).
 * Event lines (split, merge, crash) scroll above the table.
 */

export interface ShardRow {
  shardId: string;
  open: boolean;
  owner: string;
  checkpoint: string;
  lagMs: number | undefined;
}

export interface WorkerRow {
  workerId: string;
  pid: number | undefined;
  state: 'running' | 'killed' | 'stopped';
  leases: number;
  records: number;
}

export interface Snapshot {
  elapsedMs: number;
  produced: number;
  acknowledged: number;
  target: number;
  consumedUnique: number;
  deliveries: number;
  retries: number;
  throttles: number;
  failedPuts: number;
  shards: ShardRow[];
  workers: WorkerRow[];
}

export class LiveView {
  private drawnLines = 0;
  private lastPlain = 0;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly plainEveryMs = 2_000,
  ) {}

  get interactive(): boolean {
    return Boolean(this.out.isTTY) && process.env.CI !== 'true';
  }

  /** An event line, printed above the table. */
  event(elapsedMs: number, text: string): void {
    this.clear();
    this.out.write(`[${seconds(elapsedMs)}] ${text}\n`);
  }

  render(s: Snapshot): void {
    if (!this.interactive) {
      if (s.elapsedMs - this.lastPlain < this.plainEveryMs) return;
      this.lastPlain = s.elapsedMs;
      this.out.write(`${plainLine(s)}\n`);
      return;
    }
    const lines = table(s);
    this.clear();
    this.out.write(`${lines.join('\n')}\n`);
    this.drawnLines = lines.length;
  }

  /** Removes the table (before an event line or the final summary). */
  clear(): void {
    if (this.drawnLines > 0 && this.interactive) this.out.write(`\x1b[${this.drawnLines}A\x1b[0J`);
    this.drawnLines = 0;
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1).padStart(5)}s`;
}

function bar(done: number, total: number, width = 30): string {
  const filled = total === 0 ? width : Math.min(width, Math.round((done / total) * width));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

function plainLine(s: Snapshot): string {
  const leases = s.workers
    .map((w) => `${w.workerId}:${w.state === 'running' ? w.leases : w.state}`)
    .join(' ');
  const lags = s.shards.filter((r) => r.lagMs !== undefined).map((r) => r.lagMs ?? 0);
  const maxLag = lags.length ? Math.max(...lags) : 0;
  return (
    `[${seconds(s.elapsedMs)}] produced ${s.acknowledged}/${s.target} consumed ${s.consumedUnique} ` +
    `(+${s.deliveries - s.consumedUnique} dup) shards ${s.shards.filter((r) => r.open).length} open ` +
    `leases ${leases} max lag ${maxLag} ms retries ${s.retries} throttles ${s.throttles}`
  );
}

function table(s: Snapshot): string[] {
  const lines = [
    `  produced ${bar(s.acknowledged, s.target)} ${s.acknowledged}/${s.target}  retries ${s.retries}  throttles ${s.throttles}  failed ${s.failedPuts}`,
    `  consumed ${bar(s.consumedUnique, s.target)} ${s.consumedUnique}/${s.target}  duplicates ${s.deliveries - s.consumedUnique}`,
    '',
    '  shard                  state   owner        checkpoint             lag',
  ];
  for (const r of s.shards) {
    const checkpoint = r.checkpoint.length > 20 ? `…${r.checkpoint.slice(-19)}` : r.checkpoint;
    lines.push(
      `  ${r.shardId.padEnd(22)} ${(r.open ? 'open' : 'closed').padEnd(7)} ${r.owner.padEnd(12)} ${checkpoint.padEnd(22)} ${r.lagMs === undefined ? '-' : `${r.lagMs} ms`}`,
    );
  }
  lines.push('', '  worker  pid      state    leases  records');
  for (const w of s.workers) {
    lines.push(
      `  ${w.workerId.padEnd(7)} ${String(w.pid ?? '-').padEnd(8)} ${w.state.padEnd(8)} ${String(w.leases).padEnd(7)} ${w.records}`,
    );
  }
  return lines;
}
