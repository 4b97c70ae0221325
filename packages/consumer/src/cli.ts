#!/usr/bin/env node
/**
 * The `shardline` command:
 * - `shardline tail STREAM`: prints a stream's user records (KPL aggregates de-aggregated) as JSON lines,
 *   without leases or checkpoints; `--follow` keeps reading across reshards, parents before children.
 * - `shardline leases --table NAME`: prints a lease table (Shardline's or the Java KCL 2.x's).
 * Region and credentials come from the standard AWS SDK chain; endpoint options point at a local stack.
 */
import { LEASES_USAGE, leasesCommand } from './cli/leasesCommand.js';
import { TAIL_USAGE, tailCommand } from './cli/tailCommand.js';

const USAGE = `usage: shardline <command> [options]   (shardline <command> --help)

${TAIL_USAGE}

${LEASES_USAGE}`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'tail') return tailCommand(rest);
  // `leases` kept its flags-anywhere form: `shardline --table T leases` still works.
  if (command === 'leases') return leasesCommand(rest);
  if (argv.includes('leases')) return leasesCommand(argv.filter((arg) => arg !== 'leases'));
  if (command === '--help' || command === '-h') {
    console.log(USAGE);
    return 0;
  }
  console.error(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
