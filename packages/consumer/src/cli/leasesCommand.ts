import { parseArgs } from 'node:util';
import { DynamoDBLeaseStore } from '../leases/DynamoDBLeaseStore.js';
import { describeError, dynamoDBClient, kinesisClient } from './clients.js';
import { measureLag } from './lag.js';
import { formatLeaseReport } from './leaseReport.js';
import { LineWriter } from './stdout.js';
import { INTERRUPTED } from './tailCommand.js';
import { watch } from './watch.js';

export const LEASES_USAGE = `usage: shardline leases --table NAME [options]

  --table NAME              the lease table (the consumer's applicationName)
  --region REGION           AWS region (default: the SDK's, e.g. AWS_REGION)
  --endpoint URL            DynamoDB endpoint, for a local stack
  --lag --stream NAME       also measure how far each checkpoint is behind (1 GetRecords per shard)
  --kinesis-endpoint URL    Kinesis endpoint for --lag, for a local stack
  --json                    print the leases as JSON instead of a table (with --watch: one line per snapshot)
  --watch                   redraw every --interval (in place on a terminal; else snapshots, blank-line apart)
  --interval SECONDS        --watch period (default 5; each snapshot is one Scan, plus the --lag reads)

Exit codes: 0 ok, 1 the table could not be read, 2 bad arguments, 130 --watch ended by Ctrl-C.`;

/** `shardline leases`: returns the exit code. */
export async function leasesCommand(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n\n${LEASES_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(LEASES_USAGE);
    return 0;
  }
  const intervalSeconds = Number(values.interval);
  if (!values.table || (values.lag && !values.stream)) {
    console.error(LEASES_USAGE);
    return 2;
  }
  if (!Number.isFinite(intervalSeconds) || intervalSeconds < 0.1) {
    console.error(
      `--interval must be a number of seconds, at least 0.1 (got ${values.interval})\n\n${LEASES_USAGE}`,
    );
    return 2;
  }
  const table = values.table;
  const dynamoDB = dynamoDBClient(values.region, values.endpoint);
  const kinesis = values.lag ? kinesisClient(values.region, values['kinesis-endpoint']) : undefined;
  const store = new DynamoDBLeaseStore({ client: dynamoDB, tableName: table });
  const snapshot = async (): Promise<string> => {
    const leases = await store.listLeases();
    if (values.json) return `${JSON.stringify(leases, null, values.watch ? undefined : 2)}\n`;
    const lag = kinesis && values.stream ? await measureLag(kinesis, values.stream, leases) : undefined;
    return formatLeaseReport(leases, lag);
  };
  try {
    const first = await snapshot(); // a table that cannot be read at all fails at once
    if (!values.watch) {
      process.stdout.write(first);
      return 0;
    }
    return await watchLeases(first, snapshot, intervalSeconds * 1_000, !values.json);
  } catch (error) {
    console.error(`shardline: ${describeError(error)}`);
    return 1;
  } finally {
    dynamoDB.destroy();
    kinesis?.destroy();
  }
}

/** `--watch`: snapshots until Ctrl-C (130) or a closed pipe (0); a failed snapshot is shown and retried. */
async function watchLeases(
  first: string,
  snapshot: () => Promise<string>,
  intervalMs: number,
  stamped: boolean,
): Promise<number> {
  const abort = new AbortController();
  let interrupted = false;
  const onSigint = (): void => {
    interrupted = true;
    abort.abort();
  };
  process.once('SIGINT', onSigint);
  const out = new LineWriter(process.stdout, () => abort.abort());
  let pending: string | undefined = first;
  try {
    await watch({
      intervalMs,
      tty: process.stdout.isTTY === true,
      signal: abort.signal,
      render: async () => {
        const text =
          pending ?? (await snapshot().catch((error: unknown) => `shardline: ${describeError(error)}\n`));
        pending = undefined;
        return stamped ? `${new Date().toISOString()}\n${text}` : text;
      },
      write: (text) => out.writeText(text),
    });
    return interrupted ? INTERRUPTED : 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      table: { type: 'string' },
      region: { type: 'string' },
      endpoint: { type: 'string' },
      'kinesis-endpoint': { type: 'string' },
      stream: { type: 'string' },
      lag: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      watch: { type: 'boolean', default: false },
      interval: { type: 'string', default: '5' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}
