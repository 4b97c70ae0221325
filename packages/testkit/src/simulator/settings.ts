import type { FanOutOptions } from './ConsumerRegistry.js';
import { type ShardSetup, SimulatorError } from './SimulatedStream.js';
import type { KinesisSimulatorOptions } from './types.js';

/** The simulator's options, with defaults, validated at start (a bad option throws `INVALID_OPTION`). */
export function checkRange(value: number, min: number, max: number, label: string): number {
  if (!(Number.isFinite(value) && value >= min && value <= max)) {
    throw new SimulatorError('INVALID_OPTION', `${label} must be ${min}..${max}, got ${value}`);
  }
  return value;
}

/** The options' shard setup, validated. */
export function shardSetup(options: KinesisSimulatorOptions): ShardSetup {
  const writes = options.shardLimits;
  const reads = options.readLimits;
  const setup: ShardSetup = {
    writeLimits:
      writes === false
        ? undefined
        : {
            recordsPerSecond: writes?.recordsPerSecond ?? 1_000,
            bytesPerSecond: writes?.bytesPerSecond ?? 1_048_576,
            windowMs: writes?.windowMs ?? 1_000,
          },
    readLimits:
      reads === false
        ? undefined
        : { callsPerSecond: reads?.callsPerSecond ?? 5, bytesPerSecond: reads?.bytesPerSecond ?? 2_097_152 },
    retainedBytesPerShard: options.retainedBytesPerShard ?? 32 * 1024 * 1024,
  };
  // 0 keeps nothing readable (write-only benchmarks); otherwise at least 1 KiB.
  if (setup.retainedBytesPerShard !== 0) {
    checkRange(setup.retainedBytesPerShard, 1024, 4 * 1024 ** 3, 'retainedBytesPerShard');
  }
  if (setup.writeLimits) {
    checkRange(setup.writeLimits.recordsPerSecond, 1, 1_000_000, 'shardLimits.recordsPerSecond');
  }
  if (setup.readLimits) {
    checkRange(setup.readLimits.callsPerSecond, 1, 10_000, 'readLimits.callsPerSecond');
    checkRange(setup.readLimits.bytesPerSecond, 1, 1024 ** 3, 'readLimits.bytesPerSecond');
  }
  return setup;
}

/** The options' fan-out settings, validated. */
export function fanOutSettings(options: KinesisSimulatorOptions): Required<FanOutOptions> {
  const given = options.fanOut ?? {};
  const settings: Required<FanOutOptions> = {
    consumerActivationMs: given.consumerActivationMs ?? 300,
    maxConsumersPerStream: given.maxConsumersPerStream ?? 20,
    maxCreatingConsumers: given.maxCreatingConsumers ?? 5,
    subscriptionLifetimeMs: given.subscriptionLifetimeMs ?? 300_000,
    idleEventIntervalMs: given.idleEventIntervalMs ?? 5_000,
    resubscribeCooldownMs: given.resubscribeCooldownMs ?? 5_000,
    bytesPerSecond: given.bytesPerSecond ?? 2_097_152,
  };
  checkRange(settings.consumerActivationMs, 0, 600_000, 'fanOut.consumerActivationMs');
  checkRange(settings.maxConsumersPerStream, 1, 50, 'fanOut.maxConsumersPerStream');
  checkRange(settings.maxCreatingConsumers, 1, 50, 'fanOut.maxCreatingConsumers');
  checkRange(settings.subscriptionLifetimeMs, 100, 3_600_000, 'fanOut.subscriptionLifetimeMs');
  checkRange(settings.idleEventIntervalMs, 10, 60_000, 'fanOut.idleEventIntervalMs');
  checkRange(settings.resubscribeCooldownMs, 0, 60_000, 'fanOut.resubscribeCooldownMs');
  checkRange(settings.bytesPerSecond, 1, 1024 ** 3, 'fanOut.bytesPerSecond');
  return settings;
}
