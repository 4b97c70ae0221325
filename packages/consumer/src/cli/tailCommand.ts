import { parseArgs } from 'node:util';
import type { StartingPosition } from '../retrieval/PollingFetcher.js';
import { describeError, kinesisClient } from './clients.js';
import { parseStartingPosition } from './startPosition.js';
import { LineWriter } from './stdout.js';
import { tail } from './tail.js';

export const TAIL_USAGE = `usage: shardline tail STREAM [options]

  STREAM                    stream name or ARN
  --from POSITION           trim-horizon (default), latest, an ISO 8601 time, or a sequence number (with --shard)
  --shard SHARD_ID          read only this shard (and, with --follow, its descendants)
  -f, --follow              keep reading at the tip, and into child shards after a reshard (parent first)
  --region REGION           AWS region (default: the SDK's, e.g. AWS_REGION)
  --endpoint URL            Kinesis endpoint, for a local stack (also --kinesis-endpoint)

Prints one JSON line per user record (KPL aggregates de-aggregated). Exit codes: 0 done (at the tip without
--follow) or output closed, 1 read failed, 2 bad arguments, 130 interrupted (Ctrl-C).`;

/** Exit code after Ctrl-C: 128 + SIGINT, as a shell reports a process the signal ended. */
export const INTERRUPTED = 130;

/** `shardline tail`: returns the exit code. */
export async function tailCommand(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  let streamArg: string | undefined;
  let from: StartingPosition;
  try {
    const parsed = parse(argv);
    values = parsed.values;
    if (values.help) {
      console.log(TAIL_USAGE);
      return 0;
    }
    if (parsed.positionals.length !== 1) throw new Error('give exactly one STREAM');
    streamArg = parsed.positionals[0];
    from = parseStartingPosition(values.from);
    if (from.type === 'AT_SEQUENCE_NUMBER' && !values.shard) {
      throw new Error(`a sequence number belongs to one shard: give --shard with --from ${values.from}`);
    }
  } catch (error) {
    console.error(
      `shardline tail: ${error instanceof Error ? error.message : String(error)}\n\n${TAIL_USAGE}`,
    );
    return 2;
  }
  if (!streamArg) return 2;
  const stream = streamArg.startsWith('arn:') ? { StreamARN: streamArg } : { StreamName: streamArg };
  const kinesis = kinesisClient(values.region, values.endpoint ?? values['kinesis-endpoint']);
  const abort = new AbortController();
  let interrupted = false;
  const onSigint = (): void => {
    interrupted = true;
    abort.abort();
  };
  // Once: a second Ctrl-C gets Node's default (immediate exit) should stopping hang.
  process.once('SIGINT', onSigint);
  const out = new LineWriter(process.stdout, () => abort.abort());
  try {
    await tail({
      kinesis,
      stream,
      from,
      shardId: values.shard,
      follow: values.follow,
      signal: abort.signal,
      write: (line) => out.write(line),
      onWarning: (error) => console.error(`shardline tail: retrying: ${error.message}`),
    });
    return interrupted ? INTERRUPTED : 0;
  } catch (error) {
    if (out.closed) return 0;
    console.error(`shardline tail: ${describeError(error)}`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
    kinesis.destroy();
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      from: { type: 'string', default: 'trim-horizon' },
      shard: { type: 'string' },
      follow: { type: 'boolean', short: 'f', default: false },
      region: { type: 'string' },
      endpoint: { type: 'string' },
      'kinesis-endpoint': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}
