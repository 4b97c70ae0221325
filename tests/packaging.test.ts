/**
 * What users install works without the monorepo: each published package is packed (`pnpm pack`, which
 * turns `workspace:*` into real versions), the tarballs are installed into scratch projects outside the
 * workspace, and those projects type-check against them and run them with plain Node: an ES module project
 * that `import`s them, and a CommonJS project that `require()`s them (Node's require(esm), on by default from
 * 20.19 and 22.12). CI runs this file on every Node version it tests (`.ci/run`); tsc and the programs run on
 * the Node running the test, pnpm and the `shardline` bin on the `node` first on PATH (CI makes them the same).
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const PUBLISHED = ['aggregation', 'telemetry', 'producer', 'consumer'] as const;
const scratch = mkdtempSync(join(tmpdir(), 'shardline-pack-'));
const cjsScratch = mkdtempSync(join(tmpdir(), 'shardline-cjs-'));
const unpackedRoot = mkdtempSync(join(tmpdir(), 'shardline-unpacked-'));

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
import { exportToEmf } from '@shardline/producer/emf';
import { KinesisConsumer } from '@shardline/consumer';
import { exportToEmf as exportConsumerToEmf } from '@shardline/consumer/emf';
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
// The EMF entries work without @opentelemetry/api installed (an optional peer, for ./opentelemetry only).
let emf = '';
const producer = new KinesisProducer({ client, streamName: 'packaging' });
exportToEmf(producer, { output: { write: (chunk: string) => (emf += chunk) } }).stop();
const emfLines = emf.trim().split('\\n').map((line) => JSON.parse(line) as { _aws: unknown });
void producer.close();
void exportConsumerToEmf;
const producerType: typeof KinesisProducer = KinesisProducer;
const consumerType: typeof KinesisConsumer = KinesisConsumer;
void deaggregateEvent;
void processKinesisEvent;
client.destroy();
console.log(JSON.stringify({ users: users.length, key: key > 0n, range: range.end === 10n, handled, producer: typeof producerType, consumer: typeof consumerType, emf: emfLines.length > 0 && emfLines.every((line) => typeof line._aws === 'object') }));
`;

/** What CONSUMER_CODE prints, whichever way it was compiled and loaded. */
const PROGRAM_OUTPUT = {
  users: 2,
  key: true,
  range: true,
  handled: 2,
  producer: 'function',
  consumer: 'function',
  emf: true,
};

/** The tarballs as `file:` specifiers, `prefix` leading from the project that names them to `scratch`. */
function tarballSpecs(prefix: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(scratch)
      .filter((f) => f.endsWith('.tgz'))
      .map((f) => [`@shardline/${f.replace(/^shardline-/, '').replace(/-\d.*$/, '')}`, `file:${prefix}${f}`]),
  );
}

/** A project of the given module type in `dir` that depends on the tarballs, with CONSUMER_CODE, installed. */
function writeProject(dir: string, type: 'module' | 'commonjs', prefix: string): void {
  const tarballs = tarballSpecs(prefix);
  const project = {
    name: `scratch-${type}-consumer-of-shardline`,
    private: true,
    type,
    dependencies: {
      ...tarballs,
      '@aws-sdk/client-kinesis': versionOf('packages/producer', '@aws-sdk/client-kinesis'),
      '@aws-sdk/client-dynamodb': versionOf('packages/consumer', '@aws-sdk/client-dynamodb'),
    },
    devDependencies: {
      typescript: versionOf('.', 'typescript'),
      '@types/node': versionOf('.', '@types/node'),
    },
    // The packed producer and consumer name @shardline/aggregation and @shardline/telemetry by version; they
    // are not on a registry from here, so point every dependant at the tarballs.
    pnpm: {
      overrides: {
        '@shardline/aggregation': tarballs['@shardline/aggregation'],
        '@shardline/telemetry': tarballs['@shardline/telemetry'],
      },
    },
  };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(project, null, 2));
  writeFileSync(
    join(dir, 'tsconfig.json'),
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
  writeFileSync(join(dir, 'index.ts'), CONSUMER_CODE);
  run(
    'pnpm',
    ['install', '--prefer-offline', '--ignore-workspace', '--config.confirmModulesPurge=false'],
    dir,
  );
}

let cjsInstalled = false;
/** The CommonJS project, installed on first use. */
function cjsProject(): string {
  if (!cjsInstalled) {
    writeProject(cjsScratch, 'commonjs', `${scratch}/`);
    cjsInstalled = true;
  }
  return cjsScratch;
}

/** The unpacked tarball of one published package: its `package/` folder. */
function unpacked(name: (typeof PUBLISHED)[number]): string {
  const dir = join(unpackedRoot, name);
  if (!existsSync(dir)) {
    const tarball = readdirSync(scratch).find(
      (f) => f.startsWith(`shardline-${name}-`) && f.endsWith('.tgz'),
    );
    if (!tarball) throw new Error(`no tarball for ${name}`);
    mkdirSync(dir);
    run('tar', ['-xzf', join(scratch, tarball), '-C', dir], dir);
  }
  return join(dir, 'package');
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Every file an `exports` map names, through any nesting of conditions. */
function exportTargets(exports: unknown): string[] {
  if (typeof exports === 'string') return [exports];
  if (exports === null || typeof exports !== 'object') return [];
  return Object.values(exports).flatMap(exportTargets);
}

describe('published packages', () => {
  beforeAll(() => {
    run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b'], root);
    for (const name of PUBLISHED) {
      run('pnpm', ['pack', '--pack-destination', scratch], join(root, 'packages', name));
    }
  }, 300_000);

  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
    rmSync(cjsScratch, { recursive: true, force: true });
    rmSync(unpackedRoot, { recursive: true, force: true });
  });

  it('ship only dist, README and LICENSE, with the metadata a registry needs', () => {
    for (const name of PUBLISHED) {
      const manifest = JSON.parse(readFileSync(join(root, 'packages', name, 'package.json'), 'utf8'));
      expect(manifest).toMatchObject({
        name: `@shardline/${name}`,
        license: expect.any(String),
        repository: expect.anything(),
        sideEffects: false,
        engines: { node: '^20.19.0 || >=22.12.0' },
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
    writeProject(scratch, 'module', './');
    run(process.execPath, [join(scratch, 'node_modules/typescript/bin/tsc'), '-p', '.'], scratch);
    const output = run(process.execPath, [join(scratch, 'out/index.js')], scratch);
    expect(JSON.parse(output)).toEqual(PROGRAM_OUTPUT);
    // Powertools is an optional peer of the aggregation package: not installed for users who do not ask.
    expect(existsSync(join(scratch, 'node_modules/@aws-lambda-powertools'))).toBe(false);
    // So is @opentelemetry/api, of the producer's and the consumer's ./opentelemetry entries.
    expect(existsSync(join(scratch, 'node_modules/@opentelemetry'))).toBe(false);
    // The consumer's CLI is linked as a bin and runs from the installed package.
    expect(run(join(scratch, 'node_modules/.bin/shardline'), ['--help'], scratch)).toContain(
      'shardline leases --table',
    );
  });

  it('type-check under exactOptionalPropertyTypes: optional options accept undefined', () => {
    // Users who turn the flag on pass `undefined` for options they leave to the default (config spread from
    // env vars, say); every optional field of the options types must say `| undefined`.
    writeFileSync(
      join(scratch, 'exact.ts'),
      `import { KinesisClient } from '@aws-sdk/client-kinesis';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisConsumer } from '@shardline/consumer';
import { KinesisProducer } from '@shardline/producer';
import { deaggregate } from '@shardline/aggregation';
const env = (name: string): number | undefined => (process.env[name] ? Number(process.env[name]) : undefined);
const kinesisClient = new KinesisClient({ region: 'us-east-1' });
new KinesisProducer({ client: kinesisClient, streamName: 's', maxBufferedTimeMs: env('LINGER'), ordered: undefined });
const consumer = new KinesisConsumer({
  kinesisClient,
  dynamoDBClient: new DynamoDBClient({ region: 'us-east-1' }),
  streamName: 's',
  applicationName: 'app',
  processor: async () => {},
  workerId: undefined,
  failoverTimeMs: env('FAILOVER'),
  outOfRangeRecords: undefined,
  deadLetter: undefined,
});
void consumer.stop({ timeoutMs: env('STOP'), releaseTimeoutMs: undefined });
void deaggregate;
`,
    );
    writeFileSync(
      join(scratch, 'tsconfig.exact.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          exactOptionalPropertyTypes: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
        },
        include: ['exact.ts'],
      }),
    );
    run(
      process.execPath,
      [join(scratch, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.exact.json'],
      scratch,
    );
  });

  it('publish manifests that point only at what ships, without devDependencies or exact pins', () => {
    for (const name of PUBLISHED) {
      const dir = unpacked(name);
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      // devDependencies name private workspace packages (the testkit) and concern only this repository.
      expect(manifest.devDependencies).toBeUndefined();
      // Runtime dependencies are ranges, so users' installs can share and update them; ours included.
      for (const [dependency, range] of Object.entries<string>(manifest.dependencies ?? {})) {
        expect({ dependency, range }).toEqual({
          dependency,
          range: expect.stringMatching(/^\^\d+\.\d+\.\d+$/),
        });
      }
      // The SDK is the user's, as a peer: any later 3.x, including the releases that need Node 22. Other
      // peers (Powertools, optional) are caret ranges too.
      for (const [dependency, range] of Object.entries<string>(manifest.peerDependencies ?? {})) {
        expect({ dependency, range }).toEqual({
          dependency,
          range: expect.stringMatching(
            dependency.startsWith('@aws-sdk/') ? /^\^3\.\d+\.\d+$/ : /^\^\d+\.\d+\.\d+$/,
          ),
        });
      }
      // Every file the exports map (and the fallback `types`, for moduleResolution node10) names ships.
      const typesVersions = Object.values<string[]>(manifest.typesVersions?.['*'] ?? {}).flat();
      const targets = [...exportTargets(manifest.exports), manifest.types, ...typesVersions];
      expect(
        targets.filter((target) => typeof target !== 'string' || !existsSync(join(dir, target))),
      ).toEqual([]);
      expect(JSON.stringify(manifest.exports)).not.toContain('@shardline/source');
      // Every subpath entry has a typesVersions mapping for moduleResolution node10.
      const subpaths = Object.keys(manifest.exports)
        .filter((key) => key !== '.')
        .map((key) => key.slice(2));
      expect(Object.keys(manifest.typesVersions?.['*'] ?? {}).sort()).toEqual(subpaths.sort());
      // Optional peers are optional.
      for (const peer of ['@opentelemetry/api', '@aws-lambda-powertools/batch']) {
        if (manifest.peerDependencies?.[peer]) {
          expect(manifest.peerDependenciesMeta?.[peer]).toEqual({ optional: true });
        }
      }
    }
  });

  it('ship source maps that carry their sources, and no declaration maps pointing at src/', () => {
    for (const name of PUBLISHED) {
      const dir = unpacked(name);
      const maps = filesUnder(dir).filter((file) => file.endsWith('.map'));
      expect(maps.length).toBeGreaterThan(0);
      expect(maps.filter((file) => file.endsWith('.d.ts.map'))).toEqual([]);
      for (const file of maps) {
        const map = JSON.parse(readFileSync(file, 'utf8')) as {
          sources: string[];
          sourcesContent?: string[];
        };
        const missing = map.sources.filter(
          (source, i) =>
            typeof map.sourcesContent?.[i] !== 'string' && !existsSync(resolve(dirname(file), source)),
        );
        expect({ file, missing }).toEqual({ file, missing: [] });
      }
    }
  });

  it('require() from a CommonJS project: types found, and the compiled require() calls run', () => {
    const cjsScratch = cjsProject();
    // The same program as above; in a CommonJS project tsc (module NodeNext) resolves the packages' types and
    // emits require() calls, which Node answers through require(esm).
    run(process.execPath, [join(cjsScratch, 'node_modules/typescript/bin/tsc'), '-p', '.'], cjsScratch);
    const compiled = readFileSync(join(cjsScratch, 'out/index.js'), 'utf8');
    for (const specifier of [
      '@shardline/aggregation',
      '@shardline/aggregation/lambda',
      '@shardline/aggregation/powertools',
      '@shardline/producer',
      '@shardline/producer/emf',
      '@shardline/consumer',
      '@shardline/consumer/emf',
    ]) {
      expect(compiled).toContain(`require("${specifier}")`);
    }
    expect(compiled).not.toMatch(/\bimport\s*[({]/);
    const output = run(process.execPath, [join(cjsScratch, 'out/index.js')], cjsScratch);
    expect(JSON.parse(output)).toEqual(PROGRAM_OUTPUT);
    // Plain JavaScript too, with each package's whole export list, as a CommonJS user writes it.
    writeFileSync(
      join(cjsScratch, 'plain.js'),
      `const names = (m) => Object.keys(m).sort();
console.log(JSON.stringify({
  aggregation: names(require('@shardline/aggregation')),
  lambda: names(require('@shardline/aggregation/lambda')),
  producer: names(require('@shardline/producer')),
  producerEmf: names(require('@shardline/producer/emf')),
  consumer: names(require('@shardline/consumer')),
  consumerEmf: names(require('@shardline/consumer/emf')),
  // Without @opentelemetry/api installed, the ./opentelemetry entries say what is missing.
  otel: (() => { try { require('@shardline/producer/opentelemetry'); return 'loaded'; } catch (e) { return String(e.message).includes('@opentelemetry/api') ? 'needs @opentelemetry/api' : String(e.message); } })(),
}));`,
    );
    const exported = JSON.parse(run(process.execPath, [join(cjsScratch, 'plain.js')], cjsScratch)) as Record<
      string,
      string[]
    >;
    expect(exported.aggregation).toEqual(
      expect.arrayContaining(['RecordAggregator', 'deaggregate', 'hashKey']),
    );
    expect(exported.lambda).toEqual(expect.arrayContaining(['deaggregateEvent', 'processKinesisEvent']));
    expect(exported.producer).toContain('KinesisProducer');
    expect(exported.consumer).toContain('KinesisConsumer');
    expect(exported.producerEmf).toEqual(['exportToEmf']);
    expect(exported.consumerEmf).toEqual(['exportToEmf']);
    expect(exported.otel).toEqual('needs @opentelemetry/api');
  });

  it('give TypeScript projects still on moduleResolution node10 the types too', () => {
    // node10 ignores `exports`: the top-level `types` and `typesVersions` (for `/lambda`, `/emf`) lead it to dist.
    // TypeScript 6 deprecates node10, hence ignoreDeprecations; older TypeScript needs no such line.
    const project = cjsProject();
    writeFileSync(
      join(project, 'tsconfig.node10.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'CommonJS',
          moduleResolution: 'node10',
          ignoreDeprecations: '6.0',
          esModuleInterop: true,
          strict: true,
          noUncheckedIndexedAccess: true,
          // What is checked here is that the types are found; the CommonJS check above checks them whole.
          skipLibCheck: true,
          types: ['node'],
          outDir: 'out-node10',
        },
        include: ['index.ts'],
      }),
    );
    run(
      process.execPath,
      [join(project, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.node10.json'],
      project,
    );
    const output = run(process.execPath, [join(project, 'out-node10/index.js')], project);
    expect(JSON.parse(output)).toEqual(PROGRAM_OUTPUT);
  });
});
