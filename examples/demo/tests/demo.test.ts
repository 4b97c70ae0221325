import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isProcessAlive as isAlive } from '@shardline/testkit';
import { describe, expect, it } from 'vitest';

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
