import type { Lease } from '../leases/Lease.js';

/** Lag of one shard as the CLI measured it, in ms, or why it could not be (`throttled`, `trimmed`, ...). */
export type LagByShard = ReadonlyMap<string, number | string>;

/**
 * The lease table as an operator reads it: one line per shard, parents before children, with owner,
 * checkpoint (and sub-sequence number inside an aggregate), lineage and, when measured, the lag. A lease in a
 * graceful handoff (`checkpointOwner` set) shows its owner as `previous -> next` and is listed below.
 */
export function formatLeaseReport(leases: readonly Lease[], lag?: LagByShard): string {
  const rows = [...leases].sort((a, b) => a.leaseKey.localeCompare(b.leaseKey));
  const header = ['shard', 'owner', 'counter', 'checkpoint', 'parents', 'children'];
  if (lag) header.push('lag');
  const table: string[][] = [header];
  for (const lease of rows) {
    const checkpoint =
      lease.checkpointSubSequenceNumber > 0
        ? `${lease.checkpoint}/${lease.checkpointSubSequenceNumber}`
        : lease.checkpoint;
    const row = [
      lease.leaseKey,
      lease.checkpointOwner
        ? `${lease.checkpointOwner} -> ${lease.leaseOwner ?? '(none)'}`
        : (lease.leaseOwner ?? '(none)'),
      String(lease.leaseCounter),
      checkpoint,
      lease.parentShardIds.join(',') || '-',
      lease.childShardIds.join(',') || '-',
    ];
    if (lag) {
      const ms = lag.get(lease.leaseKey);
      row.push(ms === undefined ? '-' : typeof ms === 'number' ? `${ms} ms` : ms);
    }
    table.push(row);
  }
  const widths = header.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  const lines = table.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
  const owners = new Map<string, number>();
  for (const lease of rows) {
    if (lease.leaseOwner) owners.set(lease.leaseOwner, (owners.get(lease.leaseOwner) ?? 0) + 1);
  }
  const finished = rows.filter((l) => l.checkpoint === 'SHARD_END').length;
  const summary =
    `${rows.length} leases, ${finished} finished (SHARD_END), ` +
    `${rows.filter((l) => !l.leaseOwner).length} unowned; ` +
    (owners.size === 0
      ? 'no workers hold leases'
      : `workers: ${[...owners].map(([owner, n]) => `${owner} ${n}`).join(', ')}`);
  const handoffs = rows
    .filter((l) => l.checkpointOwner)
    .map((l) => `  ${l.leaseKey}: ${l.checkpointOwner} -> ${l.leaseOwner ?? '(none)'}`);
  const handoffText = handoffs.length > 0 ? `handoffs in progress:\n${handoffs.join('\n')}\n` : '';
  return `${lines.join('\n')}\n\n${summary}\n${handoffText}`;
}
