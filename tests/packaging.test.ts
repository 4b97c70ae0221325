/**
 * What users install works without the monorepo: each published package is packed (`pnpm pack`, which
 * turns `workspace:*` into real versions), the tarballs are installed into a scratch project outside the
 * workspace, and that project type-checks against them and runs them with plain Node.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const PUBLISHED = ['aggregation', 'producer', 'consumer'] as const;
const scratch = mkdtempSync(join(tmpdir(), 'shardline-pack-'));

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: 'true' },
    timeout: 240_000,
  });
}

function versionOf(pkgDir: string, dep: string): string {
  const manifest = JSON.parse(readFileSync(join(root, pkgDir, 'package.json'), 'utf8')) as {
    devDependencies?: Record<string, string>;
  };
  const version = manifest.devDependencies?.[dep];
  if (!version) throw new Error(`${pkgDir} has no dev copy of ${dep}`);
  return version;
}

const CONSUMER_CODE = `
import { RecordAggregator, deaggregate, hashKey, parseHashKeyRange } from '@shardline/aggregation';
import { deaggregateEvent, processKinesisEvent } from '@shardline/aggregation/lambda';
import { kplRecordHandler } from '@shardline/aggregation/powertools';
import { KinesisProducer } from '@shardline/producer';
import { KinesisConsumer } from '@shardline/consumer';
import { KinesisClient } from '@aws-sdk/client-kinesis';

const aggregator = new RecordAggregator();
aggregator.add({ partitionKey: 'alpha', data: 'one' });
aggregator.add({ partitionKey: 'beta', data: new Uint8Array([1, 2, 3]) });
const aggregate = aggregator.flush();
if (!aggregate) throw new Error('nothing aggregated');
const users = deaggregate({
  Data: aggregate.data,
  PartitionKey: aggregate.partitionKey,
  SequenceNumber: '49590338271490256608559692538361571095921575989136588898',
});
const key: bigint = hashKey('alpha');
const range = parseHashKeyRange({ HashKeyRange: { StartingHashKey: '0', EndingHashKey: '10' } });
// The Powertools entry works without Powertools installed (an optional peer dependency).
let handled = 0;
const recordHandler = kplRecordHandler(() => {
  handled++;
});
void recordHandler({
  kinesis: {
    data: Buffer.from(aggregate.data).toString('base64'),
    partitionKey: 'a',
    sequenceNumber: '1',
    approximateArrivalTimestamp: 1,
  },
});
const client = new KinesisClient({ region: 'us-east-1' });
const producerType: typeof KinesisProducer = KinesisProducer;
const consumerType: typeof KinesisConsumer = KinesisConsumer;
void deaggregateEvent;
void processKinesisEvent;
client.destroy();
console.log(JSON.stringify({ users: users.length, key: key > 0n, range: range.end === 10n, handled, producer: typeof producerType, consumer: typeof consumerType }));
`;

describe('published packages', () => {
  beforeAll(() => {
    run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b'], root);
    for (const name of PUBLISHED) {
      run('pnpm', ['pack', '--pack-destination', scratch], join(root, 'packages', name));
    }
  }, 300_000);

  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('ship only dist, README and LICENSE, with the metadata a registry needs', () => {
    for (const name of PUBLISHED) {
      const manifest = JSON.parse(readFileSync(join(root, 'packages', name, 'package.json'), 'utf8'));
      expect(manifest).toMatchObject({
        name: `@shardline/${name}`,
        license: expect.any(String),
        repository: expect.anything(),
        sideEffects: false,
        engines: { node: '>=20' },
      });
      // dist, README and LICENSE; the consumer also ships its CLI launcher.
      expect(manifest.files).toEqual(
        name === 'consumer' ? ['dist', 'bin', 'README.md', 'LICENSE'] : ['dist', 'README.md', 'LICENSE'],
      );
      expect(manifest.exports['.'].types).toBe('./dist/index.d.ts');
    }
    const tarballs = readdirSync(scratch).filter((f) => f.endsWith('.tgz'));
    expect(tarballs).toHaveLength(PUBLISHED.length);
    for (const tarball of tarballs) {
      const files = run('tar', ['-tzf', join(scratch, tarball)], scratch)
        .trim()
        .split('\n');
      expect(
        files.every((f) =>
          /^package\/(dist\/|bin\/shardline\.js$|README\.md$|LICENSE$|package\.json$)/.test(f),
        ),
      ).toBe(true);
      expect(files.some((f) => f.endsWith('.test.ts') || f.includes('/src/'))).toBe(false);
    }
  });

  it('install into a project outside the workspace, type-check and run there', () => {
    const tarballs = Object.fromEntries(
      readdirSync(scratch)
        .filter((f) => f.endsWith('.tgz'))
        .map((f) => [`@shardline/${f.replace(/^shardline-/, '').replace(/-\d.*$/, '')}`, `file:./${f}`]),
    );
    const project = {
      name: 'scratch-consumer-of-shardline',
      private: true,
      type: 'module',
      dependencies: {
        ...tarballs,
        '@aws-sdk/client-kinesis': versionOf('packages/producer', '@aws-sdk/client-kinesis'),
        '@aws-sdk/client-dynamodb': versionOf('packages/consumer', '@aws-sdk/client-dynamodb'),
      },
      devDependencies: {
        typescript: versionOf('.', 'typescript'),
        '@types/node': versionOf('.', '@types/node'),
      },
      // The packed producer and consumer name @shardline/aggregation by version; it is not on a registry
      // from here, so point every dependant at the tarball.
      pnpm: { overrides: { '@shardline/aggregation': tarballs['@shardline/aggregation'] } },
    };
    writeFileSync(join(scratch, 'package.json'), JSON.stringify(project, null, 2));
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          types: ['node'],
          outDir: 'out',
        },
        include: ['index.ts'],
      }),
    );
    writeFileSync(join(scratch, 'index.ts'), CONSUMER_CODE);
    run(
      'pnpm',
      ['install', '--prefer-offline', '--ignore-workspace', '--config.confirmModulesPurge=false'],
      scratch,
    );
    run(process.execPath, [join(scratch, 'node_modules/typescript/bin/tsc'), '-p', '.'], scratch);
    const output = run(process.execPath, [join(scratch, 'out/index.js')], scratch);
    expect(JSON.parse(output)).toEqual({
      users: 2,
      key: true,
      range: true,
      handled: 2,
      producer: 'function',
      consumer: 'function',
    });
    // Powertools is an optional peer of the aggregation package: not installed for users who do not ask.
    expect(existsSync(join(scratch, 'node_modules/@aws-lambda-powertools'))).toBe(false);
    // The consumer's CLI is linked as a bin and runs from the installed package.
    expect(run(join(scratch, 'node_modules/.bin/shardline'), ['--help'], scratch)).toContain(
      'shardline leases --table',
    );
  });
});
