import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import dynalite from 'dynalite';
import { connectLocalStack, type LocalStackClients, type LocalStackEndpoints } from './clients.js';
import { freeLoopbackPort, waitForPort } from './ports.js';

const require = createRequire(import.meta.url);

/** Options for {@link startLocalStack}. */
export interface LocalStackOptions {
  /**
   * Persist Kinesis and DynamoDB data below this directory, so a restart sees the same streams and tables.
   * @defaultValue `undefined` (in memory only)
   */
  persistDir?: string;
  /**
   * Region the clients sign with. kinesis-local keeps streams apart per region.
   * @defaultValue `'us-east-1'`
   */
  region?: string;
  /**
   * How long kinesis-local takes for control-plane operations (create, delete, split, merge, ...), as a
   * duration string it understands.
   * @defaultValue `'10ms'`
   */
  controlPlaneDuration?: string;
  /**
   * How long to wait for both emulators to accept requests before giving up.
   * @defaultValue `30_000`
   */
  startTimeoutMs?: number;
  /**
   * How long `stop()` waits after SIGTERM before it sends SIGKILL to kinesis-local. kinesis-local can take
   * 30 s to exit while a keep-alive client is connected, so this is kept short.
   * @defaultValue `1_500`
   */
  stopGraceMs?: number;
}

/** A running local stack: endpoints, ready-made clients, and `stop()`. */
export interface LocalStack extends LocalStackClients {
  readonly endpoints: LocalStackEndpoints;
  /** The kinesis-local child process id. */
  readonly kinesisPid: number;
  /** Stops both emulators and destroys the clients. Never hangs; safe to call twice. */
  stop(): Promise<void>;
}

/** Thrown when the stack cannot start; anything already started has been stopped. */
export class LocalStackError extends Error {
  readonly code = 'LOCAL_STACK_START_FAILED';
  readonly retriable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LocalStackError';
  }
}

const kinesisLocalMain = require.resolve('kinesis-local/main.js');
const kinesisLocalDir = dirname(kinesisLocalMain);
const loopbackPreload = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'loopback-preload.cjs');
const MAX_CAPTURED_OUTPUT = 8_192;

/**
 * Starts kinesis-local (child process) and dynalite (in-process), both listening on 127.0.0.1 only, on
 * free ports. Returns endpoints and clients configured for local use.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const region = options.region ?? 'us-east-1';
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const stopGraceMs = options.stopGraceMs ?? 1_500;
  const deadline = Date.now() + startTimeoutMs;

  let dynamo: Server | undefined;
  let child: ChildProcess | undefined;
  let output = '';
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };

  const stopAll = async (): Promise<void> => {
    process.off('exit', killOnExit);
    await Promise.all([stopChild(child, stopGraceMs), closeServer(dynamo)]);
  };

  try {
    if (options.persistDir) mkdirSync(options.persistDir, { recursive: true });
    dynamo = dynalite({
      createTableMs: 0,
      deleteTableMs: 0,
      updateTableMs: 0,
      ...(options.persistDir ? { path: join(options.persistDir, 'dynamodb') } : {}),
    });
    const dynamoPort = await listen(dynamo);

    const plainPort = await freeLoopbackPort();
    const tlsPort = await freeLoopbackPort();
    const duration = options.controlPlaneDuration ?? '10ms';
    child = spawn(process.execPath, ['-r', loopbackPreload, kinesisLocalMain], {
      cwd: kinesisLocalDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '',
        KINESIS_MOCK_PLAIN_PORT: String(plainPort),
        KINESIS_MOCK_TLS_PORT: String(tlsPort),
        KINESIS_MOCK_CERT_PATH: join(kinesisLocalDir, 'server.json'),
        LOG_LEVEL: 'WARN',
        CREATE_STREAM_DURATION: duration,
        DELETE_STREAM_DURATION: duration,
        SPLIT_SHARD_DURATION: duration,
        MERGE_SHARDS_DURATION: duration,
        UPDATE_SHARD_COUNT_DURATION: duration,
        REGISTER_STREAM_CONSUMER_DURATION: duration,
        DEREGISTER_STREAM_CONSUMER_DURATION: duration,
        SHARD_LIMIT: '200',
        ...(options.persistDir
          ? { SHOULD_PERSIST_DATA: 'true', PERSIST_PATH: join(options.persistDir, 'kinesis') }
          : {}),
      },
    });
    process.on('exit', killOnExit);
    // Keep only the tail of the child's output, for error messages; never let its pipes fill up.
    const capture = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-MAX_CAPTURED_OUTPUT);
    };
    child.stdout?.on('data', capture);
    child.stderr?.on('data', capture);
    const exited = new Promise<never>((_, reject) => {
      child?.once('exit', (code, signal) =>
        reject(new LocalStackError(`kinesis-local exited early (code ${code}, signal ${signal})`)),
      );
    });
    exited.catch(() => {});
    await Promise.race([waitForPort(plainPort, deadline), exited]);

    const endpoints: LocalStackEndpoints = {
      kinesisEndpoint: `http://127.0.0.1:${plainPort}`,
      dynamoDBEndpoint: `http://127.0.0.1:${dynamoPort}`,
      region,
    };
    const clients = connectLocalStack(endpoints);
    const pid = child.pid;
    if (pid === undefined) throw new LocalStackError('kinesis-local did not start');
    let stopping: Promise<void> | undefined;
    return {
      ...clients,
      endpoints,
      kinesisPid: pid,
      stop() {
        stopping ??= (async () => {
          clients.destroy();
          await stopAll();
        })();
        return stopping;
      },
    };
  } catch (error) {
    await stopAll();
    const detail = output.trim() ? `\n--- kinesis-local output ---\n${output.trim()}` : '';
    if (error instanceof LocalStackError) {
      error.message += detail;
      throw error;
    }
    throw new LocalStackError(`local stack failed to start: ${String(error)}${detail}`, {
      cause: error,
    });
  }
}

function listen(server: Server): Promise<number> {
  return new Promise((resolvePort, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address && typeof address === 'object') resolvePort(address.port);
      else reject(new LocalStackError('dynalite did not report its port'));
    });
  });
}

async function closeServer(server: Server | undefined): Promise<void> {
  if (!server?.listening) return;
  await new Promise<void>((done) => {
    server.close(() => done());
    server.closeAllConnections();
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited (bounded). */
async function stopChild(child: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  const graceful = await Promise.race([exited.then(() => true), delay(graceMs).then(() => false)]);
  if (graceful) return;
  child.kill('SIGKILL');
  await Promise.race([exited, delay(5_000)]);
}

function delay(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms).unref());
}
