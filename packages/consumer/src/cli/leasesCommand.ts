import { parseArgs } from 'node:util';
import { DynamoDBLeaseStore } from '../leases/DynamoDBLeaseStore.js';
import { describeError, dynamoDBClient, kinesisClient } from './clients.js';
import { measureLag } from './lag.js';
import { formatLeaseReport } from './leaseReport.js';

export const LEASES_USAGE = `usage: shardline leases --table NAME [options]

  --table NAME              the lease table (the consumer's applicationName)
  --region REGION           AWS region (default: the SDK's, e.g. AWS_REGION)
  --endpoint URL            DynamoDB endpoint, for a local stack
  --lag --stream NAME       also measure how far each checkpoint is behind (1 GetRecords per shard)
  --kinesis-endpoint URL    Kinesis endpoint for --lag, for a local stack
  --json                    print the leases as JSON instead of a table`;

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
  if (!values.table || (values.lag && !values.stream)) {
    console.error(LEASES_USAGE);
    return 2;
  }
  const dynamoDB = dynamoDBClient(values.region, values.endpoint);
  const kinesis = values.lag ? kinesisClient(values.region, values['kinesis-endpoint']) : undefined;
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
    console.error(`shardline: ${describeError(error)}`);
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
