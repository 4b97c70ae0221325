#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
/**
 * `shardline leases --table NAME`: prints a lease table (Shardline's or the Java KCL 2.x's): shard, owner,
 * counter, checkpoint, parent/child lineage, and with `--lag --stream NAME` how far each checkpoint is
 * behind. Region and credentials come from the standard AWS SDK chain; `--endpoint` points at a local
 * DynamoDB (and `--kinesis-endpoint` at a local Kinesis).
 */
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { measureLag } from './cli/lag.js';
import { formatLeaseReport } from './cli/leaseReport.js';
import { ConsumerError } from './errors.js';
import { DynamoDBLeaseStore } from './leases/DynamoDBLeaseStore.js';

const USAGE = `usage: shardline leases --table NAME [options]

  --table NAME              the lease table (the consumer's applicationName)
  --region REGION           AWS region (default: the SDK's, e.g. AWS_REGION)
  --endpoint URL            DynamoDB endpoint, for a local stack
  --lag --stream NAME       also measure how far each checkpoint is behind (1 GetRecords per shard)
  --kinesis-endpoint URL    Kinesis endpoint for --lag, for a local stack
  --json                    print the leases as JSON instead of a table`;

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }
  const { positionals, values } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals[0] !== 'leases' || !values.table || (values.lag && !values.stream)) {
    console.error(USAGE);
    return 2;
  }
  const region = values.region ? { region: values.region } : {};
  const dynamoDB = new DynamoDBClient({
    ...region,
    ...(values.endpoint ? { endpoint: values.endpoint } : {}),
  });
  const kinesis = values.lag
    ? new KinesisClient({
        ...region,
        // A local endpoint (kinesis-local) speaks HTTP/1.1; the SDK's default Kinesis handler is HTTP/2,
        // whose session fails on larger GetRecords answers there.
        ...(values['kinesis-endpoint']
          ? {
              endpoint: values['kinesis-endpoint'],
              requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, socketTimeout: 30_000 }),
            }
          : {}),
      })
    : undefined;
  try {
    const leases = await new DynamoDBLeaseStore({ client: dynamoDB, tableName: values.table }).listLeases();
    if (values.json) {
      console.log(JSON.stringify(leases, null, 2));
      return 0;
    }
    const lag = kinesis && values.stream ? await measureLag(kinesis, values.stream, leases) : undefined;
    process.stdout.write(formatLeaseReport(leases, lag));
    return 0;
  } catch (error) {
    // The error's name and message only: never the request, which may carry credentials.
    // Our typed errors already name the AWS error and its message.
    const e = error as { name?: string; message?: string };
    const text =
      error instanceof ConsumerError ? e.message : `${e.name ?? 'Error'}: ${e.message ?? String(error)}`;
    console.error(`shardline: ${text}`);
    return 1;
  } finally {
    dynamoDB.destroy();
    kinesis?.destroy();
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
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
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
