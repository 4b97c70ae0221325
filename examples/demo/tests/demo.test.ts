import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { connectLocalStack, isProcessAlive as isAlive, localStackProcessEnv } from '@shardline/testkit';
import { describe, expect, inject, it } from 'vitest';

describe('pnpm demo', () => {
  it('runs the whole pipeline with a split, a merge and a killed worker, verifies it, and leaves nothing running', async () => {
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['--conditions=@shardline/source', '--import', 'tsx', main, '--records', '1500', '--rate', '500'],
      { env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, output).toBe(0);
    expect(output).toMatch(/split shardId-/);
    expect(output).toMatch(/merged shardId-/);
    expect(output).toMatch(/SIGKILL worker w\d/);
    expect(output).toMatch(/replacement w\d started/);
    expect(output).toContain('missing: 0');
    expect(output).toContain('verified: nothing lost, order held');
    const pids = [...output.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids.length).toBeGreaterThanOrEqual(4);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
  }, 120_000);

  it('--fan-out: the same verified pipeline with consumers on enhanced fan-out (HTTP/2 simulator)', async () => {
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      [
        '--conditions=@shardline/source',
        '--import',
        'tsx',
        main,
        '--fan-out',
        '--records',
        '1500',
        '--rate',
        '500',
      ],
      { env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, output).toBe(0);
    expect(output).toMatch(/consumers read with enhanced fan-out \(stream consumer shardline-demo-/);
    expect(output).toMatch(/split shardId-/);
    expect(output).toMatch(/merged shardId-/);
    expect(output).toMatch(/SIGKILL worker w\d/);
    expect(output).toContain('missing: 0');
    expect(output).toContain('verified: nothing lost, order held');
    const pids = [...output.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
  }, 120_000);

  it('on Ctrl-C stops every process it started and exits 130', async () => {
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    // Its own process group, as a terminal's foreground job: Ctrl-C signals the whole group.
    const child = spawn(process.execPath, ['--conditions=@shardline/source', '--import', 'tsx', main], {
      env: { ...process.env, CI: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const deadline = Date.now() + 30_000;
    while (!/started worker w3/.test(output) && Date.now() < deadline && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1_500)); // let production get going
    process.kill(-(child.pid ?? 0), 'SIGINT');
    expect(await exited, output).toBe(130);
    expect(output).toContain('interrupted');
    expect(output).toContain('local stack stopped');
    const pids = [...output.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids.length).toBeGreaterThanOrEqual(4); // kinesis-local and three workers
    await new Promise((r) => setTimeout(r, 200));
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
  }, 60_000);
});

describe('pnpm demo -- --aws', () => {
  it('creates its own stream and lease table through the standard SDK chain, says so, and deletes both', async () => {
    // The real-AWS path, pointed at the local stack with the SDK's standard endpoint overrides.
    const endpoints = inject('localStack');
    const stack = connectLocalStack(endpoints);
    try {
      const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
      const child = spawn(
        process.execPath,
        [
          '--conditions=@shardline/source',
          '--import',
          'tsx',
          main,
          '--aws',
          '--records',
          '300',
          '--no-chaos',
        ],
        {
          env: {
            ...localStackProcessEnv(endpoints),
            AWS_ENDPOINT_URL_KINESIS: endpoints.kinesisEndpoint,
            AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamoDBEndpoint,
            CI: 'true',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code, output).toBe(0);
      const announced =
        /creates the Kinesis stream (\S+) \(4 shards\) and the DynamoDB table (\S+), and deletes both/.exec(
          output,
        );
      expect(announced, output).not.toBeNull();
      const [, streamName = '', tableName = ''] = announced ?? [];
      expect(output).toContain('verified: nothing lost, order held');
      expect(output).toContain(`deleted stream ${streamName} and table ${tableName}`);
      const { TableNames = [] } = await stack.dynamoDB.send(new ListTablesCommand({}));
      expect(TableNames).not.toContain(tableName);
      const deadline = Date.now() + 10_000;
      let streams: string[] = [];
      do {
        streams = (await stack.kinesis.send(new ListStreamsCommand({}))).StreamNames ?? [];
        if (!streams.includes(streamName)) break;
        await new Promise((r) => setTimeout(r, 100));
      } while (Date.now() < deadline);
      expect(streams).not.toContain(streamName);
    } finally {
      stack.destroy();
    }
  }, 60_000);
});
