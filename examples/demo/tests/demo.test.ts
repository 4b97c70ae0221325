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
});
