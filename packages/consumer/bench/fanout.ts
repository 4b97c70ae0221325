// The fan-out against polling part of `pnpm bench consumer` (not a benchmark file itself): on the testkit's
// Kinesis simulator with the service's limits, in a process of its own with the load writer
// (fanoutSimulator.ts); each consumer application in a process of its own (fanoutWorker.ts), default options
// but `retrieval`, leases in the local stack's dynalite (this process). Sizes from env (see `sizes`).
import { type ChildProcess, fork } from 'node:child_process';
import { type LocalStack, uniqueName } from '@shardline/testkit';
import type { FanOutWorkerConfig, PollTrace, ShardFlow, WorkerReport } from './fanoutWorker.js';

const MiB = 1024 * 1024;
/** The service's read limit: per shard for GetRecords (shared), per consumer per shard for fan-out. */
const READ_LIMIT = 2 * MiB;
const WRITE_LIMIT = MiB;
const num = (name: string, fallback: number): number => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};

/**
 * Sizes, from env: FANOUT_BENCH_SHARDS, _RECORD_BYTES, _LOAD, _LOAD_S, _WARMUP_S, _BEHIND_S, _HANDLER,
 * _CHECKPOINT_MS, _CATCHUP_CHECKPOINT_MS (and _PROFILE=dir for CPU profiles of the child processes).
 */
const sizes = {
  shards: num('FANOUT_BENCH_SHARDS', 4),
  recordBytes: num('FANOUT_BENCH_RECORD_BYTES', 1024),
  /** Share of the write limit (1 MiB/s per shard) written steadily in the latency run. */
  load: num('FANOUT_BENCH_LOAD', 0.5),
  loadSeconds: num('FANOUT_BENCH_LOAD_S', 15),
  warmupSeconds: num('FANOUT_BENCH_WARMUP_S', 3),
  /** How far behind (in seconds of the write limit) the catch-up runs start. */
  behindSeconds: num('FANOUT_BENCH_BEHIND_S', 30),
  handler: (process.env.FANOUT_BENCH_HANDLER === 'http1' ? 'http1' : 'h2') as 'h2' | 'http1',
  /**
   * The latency runs, one per entry: 0 is the plain handler's checkpoint per batch (the default), else an
   * object processor checkpointing at most once per this many ms per shard.
   */
  latencyCheckpointEveryMs: (process.env.FANOUT_BENCH_CHECKPOINT_MS ?? '0,1000')
    .split(',')
    .map((ms) => Number(ms) || 0),
  /** The catch-up runs' processor: as above. */
  checkpointEveryMs: Number(process.env.FANOUT_BENCH_CATCHUP_CHECKPOINT_MS ?? 0) || 0,
};

type Row = [string, string, string];
const fmt = (value: number, digits = 1): string =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const pct = (share: number): string => `${fmt(share * 100, 0)}%`;

/** A child process spoken to over IPC: messages queued by type, awaited with a timeout. */
class Peer {
  readonly #inbox: Array<{ type: string }> = [];
  #waiting: (() => void) | undefined;
  #exited = false;

  constructor(readonly child: ChildProcess) {
    child.on('message', (message: { type: string }) => {
      this.#inbox.push(message);
      this.#waiting?.();
    });
    child.on('exit', () => {
      this.#exited = true;
      this.#waiting?.();
    });
  }

  send(message: Record<string, unknown>): void {
    this.child.send(message);
  }

  async next<T>(type: string, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.#inbox.findIndex((m) => m.type === type);
      if (index >= 0) return this.#inbox.splice(index, 1)[0] as T;
      if (this.#exited) throw new Error(`process exited before its '${type}' message`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no '${type}' message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiting = undefined;
    }
  }

  async ask<T>(message: Record<string, unknown>, reply: string, timeoutMs = 60_000): Promise<T> {
    this.send(message);
    return this.next<T>(reply, timeoutMs);
  }

  async stop(): Promise<void> {
    if (this.#exited) return;
    this.send({ type: 'stop' });
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await new Promise<void>((resolve) => {
      if (this.#exited) resolve();
      else this.child.once('exit', () => resolve());
    });
    clearTimeout(killer);
  }
}

const execArgv = process.execArgv;
// FANOUT_BENCH_PROFILE=dir writes a CPU profile of every simulator and consumer process there.
const childExecArgv = process.env.FANOUT_BENCH_PROFILE
  ? [...execArgv, '--cpu-prof', `--cpu-prof-dir=${process.env.FANOUT_BENCH_PROFILE}`]
  : execArgv;
const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

async function simulator(options: Record<string, unknown>): Promise<Peer & { endpoint: string }> {
  const child = fork(new URL('./fanoutSimulator.ts', import.meta.url), [JSON.stringify(options)], {
    execArgv: childExecArgv,
    env,
  });
  const peer = new Peer(child);
  const { endpoint } = await peer.next<{ endpoint: string }>('ready', 60_000);
  return Object.assign(peer, { endpoint });
}

function worker(config: FanOutWorkerConfig): Peer {
  return new Peer(
    fork(new URL('./fanoutWorker.ts', import.meta.url), [], {
      execArgv: childExecArgv,
      env: { ...env, SHARDLINE_FANOUT_WORKER: JSON.stringify(config) },
    }),
  );
}

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

/**
 * Bytes per second a shard delivered to the processor while it caught up: what came before its last batch,
 * over the time from its first batch to its last (a 10 MiB GetRecords answer puts the shard's reads into debt
 * for 5 s, so counting the last batch, or the first batch's head start, would overstate the rate).
 */
const shardRate = (flow: ShardFlow): number =>
  flow.lastAt > flow.firstAt ? ((flow.bytes - flow.lastBatchBytes) * 1000) / (flow.lastAt - flow.firstAt) : 0;
const meanShardRate = (report: WorkerReport): number => {
  const flows = Object.values(report.shards);
  return flows.reduce((sum, flow) => sum + shardRate(flow), 0) / Math.max(1, flows.length);
};
/**
 * The fetcher's pace on one shard, from its GetRecords answers (up to the last one with records): bytes of
 * every answer but the last over the time from the first answer to the last, and the time lost against the
 * limit: each gap beyond what the previous answer's bytes cost at 2 MiB/s (or 200 ms, the 5 calls/s floor).
 */
function pollPace(t: PollTrace): {
  rate: number;
  spanMs: number;
  lostMs: number;
  idealMs: number;
  calls: number;
  throttled: number;
} {
  let last = t.bytes.length - 1;
  while (last > 0 && t.bytes[last] === 0) last--;
  let bytes = 0;
  let lostMs = 0;
  let idealMs = 0;
  for (let i = 0; i < last; i++) {
    const b = t.bytes[i] ?? 0;
    bytes += b;
    const ideal = Math.max((b * 1000) / READ_LIMIT, 200);
    idealMs += ideal;
    lostMs += Math.max(0, (t.at[i + 1] ?? 0) - (t.at[i] ?? 0) - ideal);
  }
  const first = t.at[0] ?? 0;
  const end = t.at[last] ?? 0;
  const spanMs = end - first;
  return {
    rate: spanMs > 0 ? (bytes * 1000) / spanMs : 0,
    spanMs,
    lostMs,
    idealMs,
    calls: last + 1,
    throttled: t.throttled.filter((at) => at >= first && at <= end).length,
  };
}
/**
 * An application's read rate per shard (mean over its shards): polling at the fetcher (GetRecords answers),
 * fan-out at the processor (events of at most 1 MiB, so the processor sees the pace as it is).
 */
const appRate = (report: WorkerReport, mode: 'polling' | 'fan-out'): number => {
  const rates =
    mode === 'polling'
      ? Object.values(report.polls).map((t) => pollPace(t).rate)
      : Object.values(report.shards).map(shardRate);
  return rates.reduce((sum, rate) => sum + rate, 0) / Math.max(1, rates.length);
};
/**
 * Per shard: share of the limit, answers, refusals, time lost against the limit, and the pace: the time the
 * answers' bytes cost at 2 MiB/s over the time taken (the simulator's byte budget keeps up to 1 s of credit,
 * so a late call loses less than that there; on a service without credit the pace is the share).
 */
const pollDetail = (report: WorkerReport): string =>
  Object.values(report.polls)
    .map((t) => {
      const pace = pollPace(t);
      return `${pct(pace.rate / READ_LIMIT)} (${pace.calls} answers, ${pace.throttled} refused, ${fmt(pace.lostMs / 1000)} of ${fmt(pace.spanMs / 1000)} s lost, paced at ${pct(pace.idealMs / Math.max(1, pace.spanMs))})`;
    })
    .join(', ');
const cpuPerRecord = (report: WorkerReport): number => report.busyCpuMicros / Math.max(1, report.busyRecords);

/**
 * Steady load, one polling and one fan-out application in the same run. `checkpointEveryMs` 0: the plain
 * handler (a checkpoint per batch, the default); else an object processor checkpointing at most that often.
 */
async function latency(
  stack: LocalStack,
  checkpointEveryMs: number,
  rows: Row[],
  cpu: string[],
): Promise<void> {
  const sim = await simulator({});
  const streamName = uniqueName('bench-latency');
  const workers: Peer[] = [];
  try {
    await sim.ask({ type: 'createStream', streamName, shardCount: sizes.shards }, 'created');
    const base = {
      endpoints: stack.endpoints,
      simulatorEndpoint: sim.endpoint,
      streamName,
      shardCount: sizes.shards,
      handler: sizes.handler,
      checkpointEveryMs,
      initialPosition: 'LATEST' as const,
    };
    for (const mode of ['polling', 'fan-out'] as const) {
      workers.push(worker({ ...base, mode, applicationName: uniqueName(`bench-${mode}`) }));
    }
    await Promise.all(workers.map((w) => w.next('started', 120_000)));
    const deadline = Date.now() + 60_000;
    while (
      (await sim.ask<{ subscriptions: number }>({ type: 'stats' }, 'stats')).subscriptions < sizes.shards
    ) {
      if (Date.now() > deadline) throw new Error('fan-out subscriptions not open within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const bytesPerSecondPerShard = WRITE_LIMIT * sizes.load;
    sim.send({
      type: 'load',
      streamName,
      shardCount: sizes.shards,
      bytesPerSecondPerShard,
      recordBytes: sizes.recordBytes,
      seconds: sizes.warmupSeconds + sizes.loadSeconds,
      tickMs: 20,
    });
    await new Promise((resolve) => setTimeout(resolve, sizes.warmupSeconds * 1000));
    await Promise.all(workers.map((w) => w.ask({ type: 'mark' }, 'marked')));
    const written = await sim.next<{ records: number; throttled: number; requests?: RoundTrips }>(
      'loaded',
      (sizes.loadSeconds + 60) * 1000,
    );
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // the last records reach both processors
    const [polling, fanOut] = await Promise.all(
      workers.map((w) => w.ask<WorkerReport>({ type: 'report' }, 'report')),
    );
    if (!polling || !fanOut) throw new Error('missing report');
    const p = (r: WorkerReport, q: number): number => percentile(r.latencies, q);
    const a = (r: WorkerReport, q: number): number => percentile(r.arrivalLatencies, q);
    const perSecond = (r: WorkerReport, n: number): string => fmt(n / (r.windowMs / 1000), 0);
    const mean = (trips: RoundTrips | undefined): string =>
      fmt((trips?.totalMs ?? 0) / Math.max(1, trips?.count ?? 0), 0);
    const p50 = p(fanOut, 50);
    const how =
      checkpointEveryMs === 0
        ? 'defaults: plain handler, a checkpoint per batch'
        : `checkpoint at most every ${fmt(checkpointEveryMs, 0)} ms per shard`;
    rows.push([
      `put-to-processor latency, steady ${pct(sizes.load)} write load (${fmt(bytesPerSecondPerShard / 1024, 0)} KiB/s per shard, ${fmt(sizes.recordBytes, 0)} B records, ${sizes.shards} shards, ${sizes.loadSeconds} s; ${how})`,
      `fan-out p50 ${fmt(p50, 0)} ms, p99 ${fmt(p(fanOut, 99), 0)} ms; polling p50 ${fmt(p(polling, 50), 0)} ms, p99 ${fmt(p(polling, 99), 0)} ms; ` +
        `polling / fan-out p50 ${fmt(p(polling, 50) / p50)}x, p99 ${fmt(p(polling, 99) / p(fanOut, 99))}x`,
      `goal fan-out p50 <= 100 ms (${p50 <= 100 ? 'met' : 'MISSED'}); from arrival in the shard: fan-out ${fmt(a(fanOut, 50), 0)} / ${fmt(a(fanOut, 99), 0)} ms, polling ${fmt(a(polling, 50), 0)} / ${fmt(a(polling, 99), 0)} ms; ` +
        `processor calls/s fan-out ${perSecond(fanOut, fanOut.loop.calls)}, polling ${perSecond(polling, polling.loop.calls)}; checkpoints/s ${perSecond(fanOut, fanOut.checkpoints)}, ${perSecond(polling, polling.checkpoints)}; ` +
        `DynamoDB round trip mean ${mean(fanOut.dynamo)} / ${mean(polling.dynamo)} ms; event-loop delay p99 ${fmt(fanOut.loop.p99, 0)} / ${fmt(polling.loop.p99, 0)} ms; ` +
        `PutRecords round trip mean ${mean(written.requests)} ms, max ${fmt(written.requests?.maxMs ?? 0, 0)} ms; ${written.throttled} writes throttled`,
    ]);
    const steady = (r: WorkerReport): string => fmt(r.cpuMicros / Math.max(1, r.records));
    cpu.push(
      `steady, ${checkpointEveryMs === 0 ? 'plain handler' : `checkpoint <= 1 per ${fmt(checkpointEveryMs, 0)} ms`}: fan-out ${steady(fanOut)} µs, polling ${steady(polling)} µs`,
    );
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await sim.stop();
  }
}

interface RoundTrips {
  count: number;
  totalMs: number;
  maxMs: number;
}

/** `apps` applications of one mode start `behindSeconds` behind on a pre-filled stream; each one's rate. */
async function catchUp(
  stack: LocalStack,
  mode: 'polling' | 'fan-out',
  apps: number,
): Promise<{ reports: WorkerReport[] }> {
  const bytesPerShard = sizes.behindSeconds * WRITE_LIMIT;
  // Written without write limits, so the backlog takes seconds, not behindSeconds: the readers are measured.
  const sim = await simulator({
    shardLimits: false,
    retainedBytesPerShard: Math.ceil(bytesPerShard * 1.1) + MiB,
  });
  const streamName = uniqueName('bench-catchup');
  const workers: Peer[] = [];
  try {
    await sim.ask({ type: 'createStream', streamName, shardCount: sizes.shards }, 'created');
    const filled = await sim.ask<{ records: number; failedRequests: number }>(
      {
        type: 'prefill',
        streamName,
        shardCount: sizes.shards,
        bytesPerShard,
        recordBytes: sizes.recordBytes,
      },
      'prefilled',
      120_000,
    );
    if (filled.failedRequests > 0) throw new Error(`prefill: ${filled.failedRequests} requests failed`);
    for (let app = 0; app < apps; app++) {
      workers.push(
        worker({
          endpoints: stack.endpoints,
          simulatorEndpoint: sim.endpoint,
          streamName,
          applicationName: uniqueName(`bench-${mode}`),
          shardCount: sizes.shards,
          mode,
          handler: sizes.handler,
          checkpointEveryMs: sizes.checkpointEveryMs,
          initialPosition: 'TRIM_HORIZON',
        }),
      );
    }
    // Bounded: at a quarter of the read limit per app it would still finish.
    const deadline = Date.now() + 60_000 + (bytesPerShard / READ_LIMIT) * 4 * apps * 1000;
    for (;;) {
      const progress = await Promise.all(
        workers.map((w) => w.ask<{ records: number }>({ type: 'progress' }, 'progress')),
      );
      if (progress.every((p) => p.records >= filled.records)) break;
      if (Date.now() > deadline) throw new Error(`${mode} catch-up did not finish in time`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const reports = await Promise.all(workers.map((w) => w.ask<WorkerReport>({ type: 'report' }, 'report')));
    return { reports };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await sim.stop();
  }
}

/**
 * Fan-out against polling: latency at a steady load, catch-up rate, two applications on one stream, CPU per
 * user record. `which` picks among 'fanout-latency', 'fanout-catchup', 'fanout-apps' ('fanout': all).
 */
export async function fanOutBenches(
  stack: LocalStack,
  which: Set<string>,
  rows: Row[],
  notes: string[],
): Promise<void> {
  const all = which.has('fanout');
  const cpu: string[] = [];
  if (all || which.has('fanout-latency')) {
    for (const every of sizes.latencyCheckpointEveryMs) await latency(stack, every, rows, cpu);
  }
  const behind = `${sizes.behindSeconds} s behind (${fmt((sizes.behindSeconds * WRITE_LIMIT) / MiB, 0)} MiB per shard)`;
  if (all || which.has('fanout-catchup')) {
    const shares: string[] = [];
    const details: string[] = [];
    let met = true;
    for (const mode of ['polling', 'fan-out'] as const) {
      const { reports } = await catchUp(stack, mode, 1);
      const report = reports[0];
      if (!report) continue;
      const share = appRate(report, mode) / READ_LIMIT;
      met &&= share >= 0.9;
      shares.push(`${mode} ${pct(share)}`);
      details.push(
        mode === 'polling'
          ? `polling per shard at the fetcher: ${pollDetail(report)}; at the processor ${pct(meanShardRate(report) / READ_LIMIT)}`
          : `fan-out per shard: ${Object.values(report.shards)
              .map((f) => pct(shardRate(f) / READ_LIMIT))
              .join(' ')}`,
      );
      cpu.push(`catch-up ${mode} ${fmt(cpuPerRecord(report))} µs`);
    }
    rows.push([
      `catch-up from ${behind}, share of the read limit (2 MiB/s per shard; fan-out: per consumer per shard)`,
      shares.join(', '),
      `goal >= 90% in both (${met ? 'met' : 'MISSED'}); ${details.join('; ')}`,
    ]);
  }
  if (all || which.has('fanout-apps')) {
    const results: string[] = [];
    const spans: string[] = [];
    for (const mode of ['polling', 'fan-out'] as const) {
      const { reports } = await catchUp(stack, mode, 2);
      // Each app's backlog over the time from the first batch either app got to its own last batch: polling
      // apps take turns (one may get nothing while the other catches up), so a rate over an app's own reading
      // span would hide the wait.
      const flows = reports.map((r) => Object.values(r.shards));
      const t0 = Math.min(...flows.flat().map((f) => f.firstAt));
      const first = (app: ShardFlow[]): number => Math.min(...app.map((f) => f.firstAt)) - t0;
      const last = (app: ShardFlow[]): number => Math.max(...app.map((f) => f.lastAt)) - t0;
      spans.push(
        `${mode} ${flows.map((app) => `${fmt(first(app) / 1000)}-${fmt(last(app) / 1000)}`).join(' and ')} s`,
      );
      const rates = flows.map(
        (app) =>
          ((app.reduce((sum, f) => sum + f.bytes, 0) / app.length / Math.max(1, last(app))) * 1000) / MiB,
      );
      results.push(
        `${mode}: ${rates.map((rate, i) => `app ${i + 1} ${fmt(rate, 2)}`).join(', ')} MiB/s per shard (sum ${fmt(
          rates.reduce((a, b) => a + b, 0),
          2,
        )})`,
      );
      for (const [i, r] of reports.entries()) {
        cpu.push(`two apps ${mode} (app ${i + 1}) ${fmt(cpuPerRecord(r))} µs`);
      }
    }
    rows.push([
      `two applications catching up on one stream from ${behind}`,
      results.join('; '),
      `each app's backlog over the time from the first batch either app got to its own last; fan-out: each should get the full 2 MiB/s per shard; polling: they share the 2 MiB/s and 5 calls/s per shard. Reading spans (first to last batch, s): ${spans.join('; ')}`,
    ]);
  }
  if (cpu.length > 0) {
    rows.push([
      `CPU per user record, consumer process alone (${fmt(sizes.recordBytes, 0)} B records, Kinesis client ${sizes.handler === 'h2' ? 'SDK default HTTP/2' : 'HTTP/1.1 keep-alive'})`,
      cpu.join('; '),
      'process CPU (user + system) of the consumer process; steady: over the window, idle calls included; catch-up: from its first batch to its last',
    ]);
  }
  notes.push(
    `Fan-out bench: simulator with the service's limits (writes 1 MiB/s + 1,000 records/s per shard, GetRecords 5 calls/s + 2 MiB/s per shard, fan-out 2 MiB/s per consumer per shard) in its own process with the writer; catch-up backlogs are written with the write limit off. Each application is one worker process with default options but \`retrieval\`; latency is from the writer's stamp before PutRecords to the processor.`,
  );
}
