// `pnpm bench consumer`: failover after SIGKILL, joining a fleet, lease-table writes per lease, lease-table
// cost of a 1,000-shard fleet beside the Java KCL 2.x's, duplicates while workers join and leave,
// de-aggregate-and-dispatch throughput, and fan-out against polling (fanout.ts, on the Kinesis simulator).
// Runs against the local stack (Kinesis emulator + dynalite) except the throughput and cost figures, which use
// an in-memory Kinesis source (the emulator does ~1 MB/s and cannot hold 1,000 shards cheaply).
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { RecordAggregator } from '@shardline/aggregation';
import { createStream, type LocalStack, startLocalStack, uniqueName } from '@shardline/testkit';
import { KinesisConsumer } from '../src/index.js';
import { scanUnits, snapshotTally, type Tally, tallyCapacity, tallySince } from './capacity.js';
import { fanOutBenches } from './fanout.js';
import type { FleetResult } from './fleet.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const rows: Array<[string, string, string]> = [];
/** Printed under the table: how a row's figures were computed. */
const notes: string[] = [];
const fmt = (value: number, digits = 1): string =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

interface Line {
  worker: string;
  at: number;
  type: string;
  shardId?: string;
  count?: number;
}

function spawnWorker(config: Record<string, unknown>, lines: Line[]): ChildProcess {
  const script = fileURLToPath(new URL('./worker.ts', import.meta.url));
  const child = spawn(process.execPath, ['--conditions=@shardline/source', '--import', 'tsx', script], {
    env: {
      ...process.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      SHARDLINE_WORKER: JSON.stringify(config),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  createInterface({ input: child.stdout as NonNullable<typeof child.stdout> }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Line);
    } catch {
      // not ours
    }
  });
  return child;
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('benchmark step timed out');
    await sleep(20);
  }
}

/**
 * SIGKILL one of two worker processes; time until each of its shards has a batch processed by the other. The
 * kill falls at a uniformly random point of the victim's heartbeat (renewal) cycle. Phases, from the
 * workers' own log lines: the victim's heartbeat age at the kill, the survivor seeing it dead (its live
 * worker count drops), the survivor's takes, and its first batch on each of the victim's shards.
 */
async function failover(stack: LocalStack, failoverTimeMs: number, trials: number): Promise<void> {
  const ratios: number[] = [];
  const phases = { heartbeatAge: [] as number[], detected: [] as number[], taken: [] as number[] };
  for (let trial = 0; trial < trials; trial++) {
    const streamName = uniqueName('bench-failover');
    const applicationName = uniqueName('bench-app');
    await createStream(stack.kinesis, { streamName, shardCount: 4 });
    const lines: Line[] = [];
    const base = { endpoints: stack.endpoints, streamName, applicationName, failoverTimeMs };
    const children = ['a', 'b'].map((workerId) => spawnWorker({ ...base, workerId }, lines));
    let producing = true;
    const producer = (async () => {
      while (producing) {
        const Records = Array.from({ length: 16 }, (_, i) => ({
          PartitionKey: `k${i}`,
          Data: new Uint8Array(8),
        }));
        await stack.kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records }));
        await sleep(50);
      }
    })();
    try {
      const owner = (): Map<string, string> => {
        const map = new Map<string, string>();
        for (const l of lines) if (l.type === 'acquired' && l.shardId) map.set(l.shardId, l.worker);
        return map;
      };
      const holds = (worker: string): number => [...owner().values()].filter((w) => w === worker).length;
      await until(() => holds('a') === 2 && holds('b') === 2, 60_000);
      // Past the balancing, then at a uniformly random point of the renewal (heartbeat) cycle.
      await sleep(failoverTimeMs / 2 + Math.random() * Math.floor(failoverTimeMs / 3));
      const victimShards = [...owner()].filter(([, w]) => w === 'a').map(([s]) => s);
      children[0]?.kill('SIGKILL');
      const killedAt = Date.now();
      const after = (worker: string, type: string, shardId?: string): number | undefined =>
        lines.find(
          (l) =>
            l.worker === worker &&
            l.type === type &&
            l.at > killedAt &&
            (shardId === undefined || l.shardId === shardId),
        )?.at;
      await until(() => victimShards.every((s) => after('b', 'record', s) !== undefined), failoverTimeMs * 5);
      const worst = Math.max(...victimShards.map((s) => (after('b', 'record', s) ?? 0) - killedAt));
      ratios.push(worst / failoverTimeMs);
      const lastBeat = lines
        .filter((l) => l.worker === 'a' && l.type === 'heartbeat' && l.at <= killedAt)
        .pop();
      if (lastBeat) phases.heartbeatAge.push((killedAt - lastBeat.at) / failoverTimeMs);
      const detected = lines.find(
        (l) => l.worker === 'b' && l.type === 'liveWorkers' && l.count === 1 && l.at > killedAt,
      );
      if (detected) phases.detected.push((detected.at - killedAt) / failoverTimeMs);
      phases.taken.push(
        Math.max(...victimShards.map((s) => (after('b', 'acquired', s) ?? 0) - killedAt)) / failoverTimeMs,
      );
    } finally {
      producing = false;
      await producer;
      for (const child of children) child.kill('SIGKILL');
    }
  }
  const mean = (values: number[]): string =>
    `${(values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)).toFixed(2)}x`;
  const met = ratios.reduce((a, b) => a + b, 0) / ratios.length <= 1.1;
  rows.push([
    `failover after SIGKILL (failoverTimeMs ${failoverTimeMs.toLocaleString('en-US')}, ${trials} trials)`,
    `mean ${mean(ratios)}, worst ${Math.max(...ratios).toFixed(2)}x of failoverTimeMs`,
    `goal mean <= 1.1x (${met ? 'met' : 'MISSED'}); phases (means, from the kill): victim's heartbeat age ` +
      `${mean(phases.heartbeatAge)}, death seen ${mean(phases.detected)}, leases taken ${mean(phases.taken)}, ` +
      `first batch ${mean(ratios)}`,
  ]);
}

/** Two in-process workers hold 8 shards; a third joins: time until it holds its settled share (2). */
async function joining(stack: LocalStack): Promise<void> {
  const streamName = uniqueName('bench-join');
  const applicationName = uniqueName('bench-app');
  await createStream(stack.kinesis, { streamName, shardCount: 8 });
  const make = (workerId: string): KinesisConsumer =>
    new KinesisConsumer({
      kinesisClient: stack.kinesis,
      dynamoDBClient: stack.dynamoDB,
      streamName,
      applicationName,
      workerId,
      initialPosition: 'TRIM_HORIZON',
      processor: async () => {},
    });
  const workers = [make('a'), make('b')];
  try {
    await Promise.all(workers.map((w) => w.start()));
    await until(() => workers.every((w) => w.heldShardIds().length === 4), 60_000);
    // A running fleet: every lease measured (throughput balancing waits for that on a new table).
    await sleep(31_000);
    const joiner = make('c');
    workers.push(joiner);
    const startedAt = Date.now();
    await joiner.start();
    await until(() => joiner.heldShardIds().length >= 2, 60_000);
    const elapsed = Date.now() - startedAt;
    rows.push([
      'joining worker reaches its share (8 shards, 2 -> 3 workers, defaults, fleet running > 30 s)',
      `${(elapsed / 1000).toFixed(1)} s`,
      'graceful handoffs, one move of the throughput plan per lease scan (idle leases weigh the same); the ' +
        'owner hands over after its next renewal (renewIntervalMs 3,333); the transfer cues the next scan',
    ]);
  } finally {
    await Promise.all(workers.map((w) => w.stop({ timeoutMs: 5_000 })));
  }
}

/**
 * Lease-table writes per held lease per minute, idle stream, default timings: the renewals, and this worker's
 * heartbeat (one per renew round, in the heartbeat table) shared by its 4 leases.
 */
async function writesPerLease(stack: LocalStack, seconds: number): Promise<void> {
  const streamName = uniqueName('bench-writes');
  const applicationName = uniqueName('bench-app');
  await createStream(stack.kinesis, { streamName, shardCount: 4 });
  const dynamoDBClient = stack.createDynamoDBClient();
  const tally: Tally = new Map();
  tallyCapacity(dynamoDBClient, tally, (table) => table === `${applicationName}-Workers`);
  const consumer = new KinesisConsumer({
    kinesisClient: stack.kinesis,
    dynamoDBClient,
    streamName,
    applicationName,
    initialPosition: 'TRIM_HORIZON',
    processor: async () => {},
  });
  await consumer.start();
  await until(() => consumer.heldShardIds().length === 4, 30_000);
  const before = consumer.metrics().leaseTableWrites;
  const tallyBefore = snapshotTally(tally);
  await sleep(seconds * 1000);
  const writes = consumer.metrics().leaseTableWrites - before;
  const window = tallySince(tally, tallyBefore);
  await consumer.stop();
  const perLeaseMinute = (n: number): string => fmt((n / 4) * (60 / seconds));
  const heartbeats = window.get('heartbeat UpdateItem')?.count ?? 0;
  rows.push([
    `lease-table writes per held lease per minute (idle, defaults, ${seconds} s)`,
    `${perLeaseMinute(writes)} (renewals ${perLeaseMinute(writes - heartbeats)} + heartbeat ${perLeaseMinute(heartbeats)})`,
    'KCL 2.x about 18; the heartbeat is 1 per worker per renew round, here shared by 4 leases; busy ' +
      'shards add one per checkpoint',
  ]);
}

/**
 * Lease-table cost in steady state, per worker per minute, beside the Java KCL 2.x's defaults on the same
 * table. Kinesis cannot hold 1,000 shards locally, so the workers (in a process of their own, see fleet.ts)
 * read an in-memory Kinesis of idle shards; the lease and heartbeat tables are real (dynalite, which reports
 * ConsumedCapacity). The KCL side is computed from its algorithm (v2.7.3) on the item sizes of our table.
 */
async function leaseCost(
  stack: LocalStack,
  workers: number,
  shards: number,
  windowSeconds: number,
): Promise<void> {
  const failoverTimeMs = 10_000; // the default, for both
  const script = fileURLToPath(new URL('./fleet.ts', import.meta.url));
  const child = spawn(process.execPath, ['--conditions=@shardline/source', '--import', 'tsx', script], {
    env: {
      ...process.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      SHARDLINE_FLEET: JSON.stringify({
        endpoints: stack.endpoints,
        applicationName: uniqueName('bench-cost'),
        workers,
        shards,
        settleMs: 20_000,
        windowMs: windowSeconds * 1000,
        balanceTimeoutMs: 600_000,
      }),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // This process is the DynamoDB emulator's during the run: its CPU over the window says how loaded it was.
  let emulatorCpu: { since: NodeJS.CpuUsage; at: number; cores?: number } | undefined;
  const r = await new Promise<FleetResult>((resolve, reject) => {
    let result: FleetResult | undefined;
    createInterface({ input: child.stdout as NonNullable<typeof child.stdout> }).on('line', (text) => {
      let line: {
        type?: string;
        seconds?: number;
        held?: number[];
        events?: Record<string, number>;
        message?: string;
      };
      try {
        line = JSON.parse(text) as typeof line;
      } catch {
        return; // not ours
      }
      if (line.type === 'window') emulatorCpu = { since: process.cpuUsage(), at: performance.now() };
      else if (line.type === 'result') {
        result = line as unknown as FleetResult;
        if (emulatorCpu) {
          const used = process.cpuUsage(emulatorCpu.since);
          emulatorCpu.cores = (used.user + used.system) / 1000 / (performance.now() - emulatorCpu.at);
        }
      } else if (line.type === 'progress')
        console.error(
          `cost: ${line.seconds} s, leases held ${line.held?.join(' ')}; events ${JSON.stringify(line.events)}`,
        );
      else if (line.type === 'error') console.error(`cost: ${line.message}`);
    });
    child.on('exit', (code) =>
      result ? resolve(result) : reject(new Error(`fleet process exited with ${code} before its result`)),
    );
  });

  const minutes = r.windowMs / 60_000;
  const perWorkerMinute = (value: number): number => value / r.workers / minutes;
  const leasesPerWorker = r.shards / r.workers;
  const avgBytes = r.leaseItems.totalBytes / r.leaseItems.count;
  // One full eventually consistent scan of this table, by DynamoDB's rule (sizes summed per page, 4 KB, / 2).
  const scan = scanUnits(r.leaseItems.totalBytes, false);
  const heartbeatScan = scanUnits(r.heartbeatItems.totalBytes, false);
  const writeUnits = Math.ceil(r.leaseItems.maxBytes / 1024);

  // KCL 2.x (v2.7.3) defaults: every worker's taker scans every 2 x (failover + 25 ms), each worker scans
  // once per 5 min for leader election, the leader alone also audits shards every 120 s (one scan);
  // renewals are one UpdateItem per held lease every failover / 3 - 25 ms.
  const kclTakerMs = 2 * (failoverTimeMs + 25);
  const kclScansPerMinute = 60_000 / kclTakerMs + 1 / 5;
  const kclReads = scan * kclScansPerMinute;
  const kclLeaderExtra = scan * (60_000 / 120_000);
  const kclRenewMs = failoverTimeMs / 3 - 25;
  const kclWrites = leasesPerWorker * (60_000 / kclRenewMs) * writeUnits;

  const ours = {
    reads: perWorkerMinute(r.reported.readUnits),
    writes: perWorkerMinute(r.reported.writeUnits),
  };
  const op = (key: string): { count: number; failed: number; units: number; ms: number } =>
    r.tally[key] ?? { count: 0, failed: 0, units: 0, ms: 0 };
  // Ours again by the same rule from the request counts, to check dynalite's figures against AWS's rule.
  const ruleReads =
    op('lease Scan').count * scan +
    op('heartbeat Scan').count * heartbeatScan +
    op('lease GetItem').count +
    op('heartbeat GetItem').count;
  let ruleWrites = 0;
  for (const [key, entry] of Object.entries(r.tally)) {
    if (/ (UpdateItem|PutItem|DeleteItem)$/.test(key)) ruleWrites += entry.count * writeUnits;
  }
  // Ours at the configured default intervals with instant requests (heartbeat-table look every failover / 10,
  // lease scan every 3 x failover, renew round, with the heartbeat, every failover / 3): the loops wait their
  // interval after each round, so slow requests (a loaded emulator) stretch them and lower the measured cost.
  const lookMs = failoverTimeMs / 10;
  const leaseScanMs = 3 * failoverTimeMs;
  const renewMs = Math.floor(failoverTimeMs / 3);
  const nominalReads = (60_000 / lookMs) * heartbeatScan + (60_000 / leaseScanMs) * scan;
  const nominalWrites = (leasesPerWorker + 1) * (60_000 / renewMs) * writeUnits;
  const measuredRenewMs = r.windowMs / (op('lease UpdateItem').count / r.shards);
  const measuredLookMs = r.windowMs / (op('heartbeat Scan').count / r.workers);
  const latency = (key: string): string => fmt(op(key).ms / Math.max(1, op(key).count + op(key).failed));
  const perMinute = (key: string): string => fmt(perWorkerMinute(op(key).count));
  const unitsPerMinute = (key: string): string => fmt(perWorkerMinute(op(key).units));
  const window = `${Math.round(r.windowMs / 1000)} s window`;
  const readsMet = ours.reads <= kclReads;
  rows.push([
    `lease-table read units per worker per minute (${fmt(r.shards, 0)} shards, ${r.workers} workers, defaults, ${window})`,
    `${fmt(ours.reads)} RCU vs KCL 2.x ${fmt(kclReads)} (${fmt(ours.reads / kclReads, 2)}x)`,
    `goal <= KCL (${readsMet && nominalReads <= kclReads ? 'met' : 'MISSED'}); at the configured intervals ` +
      `${fmt(nominalReads)} (${fmt(nominalReads / kclReads, 2)}x); KCL leader +${fmt(kclLeaderExtra)}, ` +
      `KCL fleet average ${fmt(kclReads + kclLeaderExtra / r.workers)}`,
  ]);
  rows.push([
    `lease-table write units per worker per minute (same run; ${fmt(leasesPerWorker, 0)} leases each, idle)`,
    `${fmt(ours.writes)} WCU vs KCL 2.x ${fmt(kclWrites)} (${fmt(ours.writes / kclWrites, 2)}x)`,
    `at the configured intervals ${fmt(nominalWrites)} (${fmt(nominalWrites / kclWrites, 2)}x): renewals as ` +
      `the KCL, plus 1 heartbeat per renew round; measured rounds every ${fmt(measuredRenewMs / 1000, 2)} s, ` +
      `not ${fmt(renewMs / 1000, 2)} s (see below)`,
  ]);
  notes.push(
    `Lease-table cost: ${fmt(r.leaseItems.count, 0)} lease items of ${fmt(avgBytes, 0)} B on average ` +
      `(max ${r.leaseItems.maxBytes} B; ${fmt(r.leaseItems.totalBytes, 0)} B in all) by DynamoDB's size rule: ` +
      `one eventually consistent scan = ceil(${fmt(r.leaseItems.totalBytes, 0)} / 4,096) / 2 = ${fmt(scan)} RCU; ` +
      `a renewal = ${writeUnits} WCU. Steady after ${fmt(r.steadyAfterMs / 1000)} s; lease events in the window: ` +
      `${
        Object.entries(r.movesInWindow)
          .map(([event, n]) => `${event} ${n}`)
          .join(', ') || 'none'
      }; fleet event-loop delay p99 ${fmt(r.loopDelayP99Ms)} ms.`,
    `  KCL 2.x reads:  taker scan every 2 x (10,000 + 25) = ${fmt(kclTakerMs, 0)} ms + leader-election scan ` +
      `every 5 min = (60,000 / ${fmt(kclTakerMs, 0)} + 1/5) x ${fmt(scan)} = ${fmt(kclReads)} RCU/min ` +
      `(the leader also audits every 120 s: + 0.5 x ${fmt(scan)} = ${fmt(kclLeaderExtra)}).`,
    `  KCL 2.x writes: ${fmt(leasesPerWorker, 0)} leases x 60,000 / (10,000 / 3 - 25 = ${fmt(kclRenewMs, 0)} ms) ` +
      `x ${writeUnits} WCU = ${fmt(kclWrites)} WCU/min.`,
    `  Ours, per worker per minute: heartbeat scans ${perMinute('heartbeat Scan')} (${unitsPerMinute('heartbeat Scan')} RCU), ` +
      `lease scans ${perMinute('lease Scan')} (${unitsPerMinute('lease Scan')} RCU), consistent GetItems ` +
      `${perMinute('lease GetItem')} + ${perMinute('heartbeat GetItem')}; lease UpdateItems ` +
      `${perMinute('lease UpdateItem')} (${unitsPerMinute('lease UpdateItem')} WCU), heartbeat UpdateItems ` +
      `${perMinute('heartbeat UpdateItem')} (${unitsPerMinute('heartbeat UpdateItem')} WCU); failed requests ` +
      `${Object.values(r.tally).reduce((a, e) => a + e.failed, 0)}.`,
    `  Printed: the units metrics() reported (dynalite's ConsumedCapacity). The same requests by AWS's rule: ` +
      `${fmt(perWorkerMinute(ruleReads))} RCU, ${fmt(perWorkerMinute(ruleWrites))} WCU per worker per minute.`,
    `  At the configured intervals (look every ${fmt(lookMs, 0)} ms, lease scan every ${fmt(leaseScanMs, 0)} ms, ` +
      `renew round every ${fmt(renewMs, 0)} ms, requests instant): 60 x ${fmt(heartbeatScan)} + 2 x ${fmt(scan)} = ` +
      `${fmt(nominalReads)} RCU, (${fmt(leasesPerWorker, 0)} + 1) x 60,000 / ${fmt(renewMs, 0)} = ` +
      `${fmt(nominalWrites)} WCU. Measured: a look every ${fmt(measuredLookMs, 0)} ms, a renew round every ` +
      `${fmt(measuredRenewMs, 0)} ms (mean latency: lease UpdateItem ${latency('lease UpdateItem')} ms with 16 in ` +
      `flight per worker, heartbeat Scan ${latency('heartbeat Scan')} ms, lease Scan ${latency('lease Scan')} ms); ` +
      `CPU over the window: emulator ${emulatorCpu?.cores === undefined ? '?' : fmt(emulatorCpu.cores, 2)} cores, ` +
      `fleet ${fmt(r.cpuCores, 2)} cores (of 2 shared).`,
    `  Reaching that balance from the unowned table took ${fmt(r.steadyAfterMs / 1000)} s, all workers: ` +
      Object.entries(r.startupTally)
        .filter(([key]) => /(Scan|GetItem|UpdateItem)$/.test(key))
        .map(
          ([key, e]) =>
            `${key} ${fmt(e.count, 0)} ok + ${fmt(e.failed, 0)} failed (${fmt(e.units, 0)} units)`,
        )
        .join(', ') +
      `; events: ${Object.entries(r.startupMoves)
        .map(([event, n]) => `${event} ${n}`)
        .join(', ')}.`,
  );
}

/**
 * Duplicates while the fleet changes: unique records flow through 8 shards while workers join (their share
 * comes by graceful handoff) and leave with stop(): 2 -> 3 -> 2 -> 3 -> 2 in-process workers, defaults. Counts
 * the records handed to a processor more than once, per 10,000 delivered, and checks that none went missing.
 */
async function duplicates(stack: LocalStack, dwellMs: number): Promise<void> {
  const streamName = uniqueName('bench-dup');
  const applicationName = uniqueName('bench-app');
  await createStream(stack.kinesis, { streamName, shardCount: 8 });
  const deliveries = new Map<string, number>();
  let delivered = 0;
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const make = (workerId: string): KinesisConsumer =>
    new KinesisConsumer({
      kinesisClient: stack.kinesis,
      dynamoDBClient: stack.dynamoDB,
      streamName,
      applicationName,
      workerId,
      initialPosition: 'TRIM_HORIZON',
      processor: async (records) => {
        for (const record of records) {
          const payload = decoder.decode(record.data);
          deliveries.set(payload, (deliveries.get(payload) ?? 0) + 1);
          delivered++;
        }
        await sleep(50); // a batch takes a while, so handoffs and stops find one in flight
      },
    });
  const produced: string[] = [];
  let producing = true;
  let next = 0;
  const producer = (async () => {
    while (producing) {
      const payloads = Array.from({ length: 20 }, () => `record-${next++}`);
      const { Records = [] } = await stack.kinesis.send(
        new PutRecordsCommand({
          StreamName: streamName,
          Records: payloads.map((payload) => ({ PartitionKey: payload, Data: encoder.encode(payload) })),
        }),
      );
      Records.forEach((entry, i) => {
        if (entry.SequenceNumber) produced.push(payloads[i] ?? '');
      });
      await sleep(50);
    }
  })();
  const workers = new Map<string, KinesisConsumer>();
  const finished: KinesisConsumer[] = [];
  const shares = (): string =>
    [...workers.values()]
      .map((worker) => worker.heldShardIds().length)
      .sort()
      .join(',');
  const join = async (workerId: string, settled: string): Promise<void> => {
    const worker = make(workerId);
    workers.set(workerId, worker);
    await worker.start();
    await until(() => shares() === settled, 120_000);
    await sleep(dwellMs);
  };
  const leave = async (workerId: string, settled: string): Promise<void> => {
    const worker = workers.get(workerId);
    workers.delete(workerId);
    await worker?.stop();
    if (worker) finished.push(worker);
    await until(() => shares() === settled, 120_000);
    await sleep(dwellMs);
  };
  try {
    await Promise.all([join('a', '4,4'), join('b', '4,4')]);
    await join('c', '2,3,3');
    await leave('a', '4,4');
    await join('d', '2,3,3');
    await leave('b', '4,4');
  } finally {
    producing = false;
    await producer;
  }
  await until(() => produced.every((payload) => deliveries.has(payload)), 60_000).catch(() => undefined);
  for (const worker of workers.values()) {
    await worker.stop();
    finished.push(worker);
  }
  let twice = 0;
  for (const count of deliveries.values()) if (count > 1) twice++;
  const missing = produced.filter((payload) => !deliveries.has(payload)).length;
  const total = (pick: (m: ReturnType<KinesisConsumer['metrics']>) => number): number =>
    finished.reduce((sum, worker) => sum + pick(worker.metrics()), 0);
  const per10k = (twice / Math.max(1, delivered)) * 10_000;
  rows.push([
    'duplicates per 10,000 records delivered (8 shards; 2 -> 3 -> 2 -> 3 -> 2 workers: joins by handoff, leaves by stop())',
    `${fmt(per10k, 1)} (${twice} of ${fmt(delivered, 0)} delivered more than once; ${missing} of ${fmt(produced.length, 0)} missing)`,
    `goal 0 (${twice === 0 && missing === 0 ? 'met' : 'MISSED'}); ${total((m) => m.leasesHandedOff)} handoffs, ` +
      `${total((m) => m.leasesReleased)} leases released by stop() (the 2 leaves and the end), ` +
      `${total((m) => m.leasesLost)} lost, ` +
      `${total((m) => m.leasesStolen)} stolen`,
  ]);
}

/** De-aggregate and dispatch from an in-memory source: user records/s on one core. */
async function throughput(stack: LocalStack, seconds: number): Promise<void> {
  // 25 KB aggregates (about 220 user records each), the same 200 records served on every call.
  const aggregator = new RecordAggregator({ maxBytes: 25_000 });
  const records: Array<{
    SequenceNumber: string;
    PartitionKey: string;
    Data: Uint8Array;
    ExplicitHashKey?: string;
  }> = [];
  const payload = new Uint8Array(100);
  let userRecords = 0;
  for (let i = 0; records.length < 200; i++) {
    const done = aggregator.add({ partitionKey: `key-${i % 1000}`, data: payload });
    userRecords++;
    if (done)
      records.push({
        SequenceNumber: String(10n ** 55n + BigInt(records.length)),
        PartitionKey: done.partitionKey,
        Data: done.data,
      });
  }
  const perCall = userRecords - aggregator.count;
  const fakeKinesis = {
    send: async (command: { constructor: { name: string } }) => {
      switch (command.constructor.name) {
        case 'ListShardsCommand':
          return {
            Shards: Array.from({ length: 4 }, (_, i) => ({
              ShardId: `shardId-${i}`,
              SequenceNumberRange: { StartingSequenceNumber: '0' },
            })),
          };
        case 'GetShardIteratorCommand':
          return { ShardIterator: 'it' };
        default:
          return { Records: records, NextShardIterator: 'it', MillisBehindLatest: 60_000 };
      }
    },
  };
  let dispatched = 0;
  const consumer = new KinesisConsumer({
    kinesisClient: fakeKinesis as unknown as ConstructorParameters<
      typeof KinesisConsumer
    >[0]['kinesisClient'],
    dynamoDBClient: stack.dynamoDB,
    streamName: 'in-memory',
    applicationName: uniqueName('bench-app'),
    initialPosition: 'TRIM_HORIZON',
    verifyChecksum: true,
    processor: {
      processRecords: ({ records: batch }) => {
        dispatched += batch.length;
      },
      shardEnded: ({ checkpointer }) => checkpointer.checkpoint(),
    },
  });
  await consumer.start();
  await until(() => dispatched > 0, 30_000);
  const from = dispatched;
  const startedAt = performance.now();
  await sleep(seconds * 1000);
  const rate = ((dispatched - from) / (performance.now() - startedAt)) * 1000;
  await consumer.stop();
  rows.push([
    `de-aggregate + dispatch, in-memory source (4 shards, ${records.length} aggregates = ${fmt(perCall, 0)} user records of 100 B per call)`,
    `${Math.round(rate).toLocaleString('en-US')} user records/s`,
    `one core; MD5 verified; capped at ${fmt(4 * 5 * perCall, 0)}/s by 5 GetRecords/s per shard`,
  ]);
}

// CONSUMER_BENCH=throughput,writes,join,cost,failover,duplicates,fanout runs a subset ('fanout' is
// fanout-latency,fanout-catchup,fanout-apps; sizes in fanout.ts).
const only = new Set(
  (process.env.CONSUMER_BENCH ?? 'throughput,writes,join,cost,failover,duplicates,fanout').split(','),
);
const stack = await startLocalStack();
try {
  if (only.has('throughput')) await throughput(stack, 5);
  if (only.has('writes')) await writesPerLease(stack, 60);
  if (only.has('join')) await joining(stack);
  if (only.has('cost')) await leaseCost(stack, 10, 1_000, 120);
  if (only.has('failover')) {
    await failover(stack, 3_000, 8);
    await failover(stack, 10_000, 4);
  }
  if (only.has('duplicates')) await duplicates(stack, 5_000);
  if ([...only].some((name) => name.startsWith('fanout'))) await fanOutBenches(stack, only, rows, notes);
} finally {
  await stack.stop();
}
const width = Math.max(...rows.map((r) => r[0].length));
console.log(`\n${'measure'.padEnd(width)} | result | note`);
for (const [name, value, note] of rows) console.log(`${name.padEnd(width)} | ${value} | ${note}`);
if (notes.length > 0) console.log(`\n${notes.join('\n')}`);
