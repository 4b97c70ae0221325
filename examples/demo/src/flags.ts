import { parseArgs } from 'node:util';

/** The demo's command-line flags. */
export interface DemoFlags {
  /** User records to produce. */
  records: number;
  /** User records per second the producer is driven at. */
  rate: number;
  /** Shards the stream starts with. */
  shards: number;
  /** Consumer worker processes. */
  workers: number;
  /** Split, merge, kill a worker and start a replacement part way through. */
  chaos: boolean;
  /**
   * Consumers read with enhanced fan-out (SubscribeToShard over HTTP/2) instead of polling; locally the
   * stream is served by the testkit's Kinesis simulator, which speaks HTTP/2.
   */
  fanOut: boolean;
  /** Run against real AWS (standard SDK credential chain) instead of the embedded stack. */
  aws: boolean;
  region: string | undefined;
  /** Give up waiting for the consumers after this long once production is done. */
  drainTimeoutMs: number;
  help: boolean;
}

export const USAGE = `pnpm demo [-- options]

  --records N     user records to produce               (default 12000)
  --rate N        records per second                    (default 800)
  --shards N      shards the stream starts with         (default 4)
  --workers N     consumer worker processes             (default 3)
  --no-chaos      no split, merge or worker crash
  --fan-out       consumers read with enhanced fan-out (SubscribeToShard over HTTP/2) instead of polling;
                  locally the stream is served by the Kinesis simulator (HTTP/2), on AWS a stream consumer
                  is registered (billed per consumer-shard hour; deleted with the stream at the end)
  --aws           run against real AWS instead of the embedded local stack: uses the standard SDK
                  credential chain, creates its own stream and lease table, and deletes both at the end
  --region R      AWS region for --aws                  (default: the SDK's, e.g. AWS_REGION)
  --help`;

export class FlagError extends Error {
  readonly code = 'DEMO_BAD_FLAG';
}

export function parseFlags(argv: string[]): DemoFlags {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowNegative: true,
    options: {
      records: { type: 'string', default: '12000' },
      rate: { type: 'string', default: '800' },
      shards: { type: 'string', default: '4' },
      workers: { type: 'string', default: '3' },
      chaos: { type: 'boolean', default: true },
      'fan-out': { type: 'boolean', default: false },
      aws: { type: 'boolean', default: false },
      region: { type: 'string' },
      'drain-timeout-ms': { type: 'string', default: '60000' },
      help: { type: 'boolean', default: false },
    },
  } as const);
  const int = (name: string, raw: string, min: number, max: number): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new FlagError(`--${name} must be an integer from ${min} to ${max} (got ${raw})`);
    }
    return value;
  };
  const flags: DemoFlags = {
    records: int('records', values.records, 1, 10_000_000),
    rate: int('rate', values.rate, 1, 1_000_000),
    shards: int('shards', values.shards, 1, 64),
    workers: int('workers', values.workers, 1, 32),
    chaos: values.chaos,
    fanOut: values['fan-out'],
    aws: values.aws,
    region: values.region,
    drainTimeoutMs: int('drain-timeout-ms', values['drain-timeout-ms'], 1_000, 3_600_000),
    help: values.help,
  };
  if (flags.chaos && flags.shards < 3) {
    throw new FlagError('chaos splits one shard and merges two others: it needs --shards 3 or more');
  }
  return flags;
}
