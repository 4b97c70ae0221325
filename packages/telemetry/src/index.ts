// The metric exporters' shared core: a table of metric definitions read from a `metrics()` snapshot or fed by
// events, option checks, and the CloudWatch Embedded Metric Format writer. The producer and the consumer never
// import each other; both import this package, which imports neither.

/**
 * An exporter option is invalid. The producer's and the consumer's entries rethrow it as their own
 * `ConfigurationError` (see {@link asConfigurationError}), so users meet one error vocabulary per package.
 */
export class ExportOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportOptionError';
  }
}

/** Runs `fn`, turning an {@link ExportOptionError} into the calling package's own configuration error. */
export function asConfigurationError<T>(fn: () => T, toError: (message: string) => Error): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ExportOptionError) throw toError(error.message);
    throw error;
  }
}

/** CloudWatch units used by Shardline's metrics (a subset of those CloudWatch accepts). */
export type MetricUnit = 'Count' | 'Bytes' | 'Milliseconds' | 'None';

/** String attributes (OpenTelemetry) or dimensions (CloudWatch), never record data. */
export type MetricAttributes = Readonly<Record<string, string>>;

/** One observed value and the attributes beyond the exporter's base attributes. */
export interface MetricPoint {
  value: number;
  attributes?: MetricAttributes;
}

/** A running summary (count and sum are all an interval average needs). */
export interface RunningStat {
  count: number;
  sum: number;
}

/**
 * How one metric is read. `counter`: a cumulative count from the snapshot (EMF writes the increase over the
 * interval). `gauge`: a current value. `average`: the average of the values observed since the last collection,
 * from a running `count` and `sum` (written only when there were any). `histogram`: individual values fed by
 * events.
 */
export type MetricDefinition<S> =
  | {
      name: string;
      kind: 'counter' | 'gauge';
      unit: MetricUnit;
      description: string;
      read: (snapshot: S) => MetricPoint[];
    }
  | {
      name: string;
      kind: 'average';
      unit: MetricUnit;
      description: string;
      read: (snapshot: S) => RunningStat;
    }
  | { name: string; kind: 'histogram'; unit: MetricUnit; description: string };

/** Feeds one histogram value; what a source's event subscription calls. */
export type HistogramSink = (name: string, value: number, attributes?: MetricAttributes) => void;

/** What an exporter needs of a producer or a consumer. */
export interface MetricSource<S> {
  definitions: readonly MetricDefinition<S>[];
  /** Attributes on every metric (the stream's name, and the application's for a consumer). */
  attributes: MetricAttributes;
  snapshot: () => S;
  /** Subscribes to the events that feed histograms; returns the unsubscribe function. */
  subscribe: (sink: HistogramSink) => () => void;
}

/** Returned by the exporters. */
export interface MetricsExport {
  /** Stops exporting (an EMF exporter first writes what it has). Safe to call more than once. */
  stop(): void;
}

const RESERVED = new Set(['StreamName', 'ShardId', 'ErrorCode', 'ApplicationName']);
/** Bound on user attributes: with Shardline's own (at most 3) well under EMF's 30 dimensions per set. */
export const MAX_USER_ATTRIBUTES = 20;

/** Checks user `attributes` (strings, bounded, not shadowing Shardline's own); returns a frozen copy. */
export function checkAttributes(value: unknown, option: string): MetricAttributes {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ExportOptionError(`${option} must be an object of string values`);
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_USER_ATTRIBUTES) {
    throw new ExportOptionError(`${option} may have at most ${MAX_USER_ATTRIBUTES} entries`);
  }
  for (const [key, v] of entries) {
    if (key.length === 0 || key.length > 255 || key.startsWith(':') || key.startsWith('_aws')) {
      throw new ExportOptionError(
        `${option}: '${key}' must be 1-255 characters, not starting with ':' or '_aws'`,
      );
    }
    if (RESERVED.has(key)) throw new ExportOptionError(`${option}: '${key}' is set by Shardline`);
    if (typeof v !== 'string' || v.length === 0 || v.length > 1024) {
      throw new ExportOptionError(`${option}.${key} must be a string of 1-1024 characters`);
    }
  }
  return Object.freeze(Object.fromEntries(entries) as Record<string, string>);
}

/** Checks an options argument is an object (or absent). */
export function checkOptionsObject(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ExportOptionError(`${what} options must be an object`);
  }
  return value as Record<string, unknown>;
}

/** Computes interval averages from running stats: one instance per exporter. */
export class IntervalAverages {
  readonly #last = new Map<string, RunningStat>();

  /** The average of the values since the previous call for `name`, or `undefined` when there were none. */
  next(name: string, stat: RunningStat): number | undefined {
    const last = this.#last.get(name) ?? { count: 0, sum: 0 };
    this.#last.set(name, { count: stat.count, sum: stat.sum });
    const count = stat.count - last.count;
    return count > 0 ? (stat.sum - last.sum) / count : undefined;
  }
}

// ---- CloudWatch Embedded Metric Format ----

/** Options of `exportToEmf`. */
export interface EmfExportOptions {
  /**
   * The CloudWatch namespace: 1-255 characters of letters, digits and `. - _ / # :` and space, not starting with
   * `AWS/`.
   * @defaultValue `'KinesisProducerLibrary'` for a producer (the KPL's), the application name for a consumer
   * (the KCL's)
   */
  namespace?: string;
  /**
   * How often a report is written, in ms: 1,000 to 3,600,000. CloudWatch stores metrics at 1-minute resolution
   * unless a metric is high-resolution, so a shorter interval only adds log lines.
   * @defaultValue `60_000`
   */
  intervalMs?: number;
  /**
   * Where the JSON lines go: anything with `write(string)`, such as a `Writable` or a log file stream.
   * @defaultValue `process.stdout` (what Lambda and the CloudWatch agent pick up)
   */
  output?: { write(chunk: string): unknown };
  /**
   * Dimensions added to every metric (for example `{ Service: 'billing' }`): at most 20 string values, names
   * other than Shardline's own (`StreamName`, `ShardId`, `ErrorCode`, `ApplicationName`). Never record data.
   * @defaultValue `{}`
   */
  attributes?: Record<string, string>;
}

/** A report that `exportToEmf` writes and tests can call: `flush()` writes what has accumulated now. */
export interface EmfExport extends MetricsExport {
  /** Writes a report now (at the end of a Lambda invocation, for example), then goes on as before. */
  flush(): void;
}

/** EMF's limits: metrics per directive, values per metric, dimensions per set. */
export const EMF_MAX_METRICS = 100;
export const EMF_MAX_VALUES = 100;
const MIN_INTERVAL_MS = 1_000;
const MAX_INTERVAL_MS = 3_600_000;
const NAMESPACE = /^[A-Za-z0-9._\-/#: ]{1,255}$/;

/** Checks a CloudWatch namespace. */
export function checkNamespace(value: unknown): string {
  if (typeof value !== 'string' || !NAMESPACE.test(value) || value.startsWith('AWS/')) {
    throw new ExportOptionError(
      "namespace must be 1-255 characters of letters, digits, '. - _ / # :' and space, not starting with 'AWS/'",
    );
  }
  return value;
}

/** A bounded sample of one histogram's values over an interval: the first 100, then a uniform sample. */
class Reservoir {
  readonly values: number[] = [];
  seen = 0;
  add(value: number): void {
    this.seen++;
    if (this.values.length < EMF_MAX_VALUES) this.values.push(value);
    else {
      const slot = Math.floor(Math.random() * this.seen);
      if (slot < EMF_MAX_VALUES) this.values[slot] = value;
    }
  }
}

interface Line {
  dimensions: Record<string, string>;
  metrics: { name: string; unit: MetricUnit; value: number | number[] }[];
}

/** The key of an attribute set: its entries sorted. */
function keyOf(attributes: MetricAttributes): string {
  return JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Writes EMF JSON lines for `source` every `intervalMs`: one line per set of dimension values (stream,
 * stream and shard, stream and error code), at most 100 metrics per line. Counters are written as their increase
 * over the interval, gauges as their current value, averages as the interval's average, histograms as the
 * values observed (a uniform sample of 100 beyond that).
 */
export function startEmfExport<S>(
  source: MetricSource<S>,
  options: EmfExportOptions | undefined,
  defaultNamespace: string,
): EmfExport {
  const o = checkOptionsObject(options, 'exportToEmf');
  const namespace = checkNamespace(o.namespace ?? defaultNamespace);
  const intervalMs = o.intervalMs ?? 60_000;
  if (
    typeof intervalMs !== 'number' ||
    !Number.isInteger(intervalMs) ||
    intervalMs < MIN_INTERVAL_MS ||
    intervalMs > MAX_INTERVAL_MS
  ) {
    throw new ExportOptionError(
      `intervalMs must be an integer from ${MIN_INTERVAL_MS} to ${MAX_INTERVAL_MS}`,
    );
  }
  const output = o.output ?? process.stdout;
  if (
    output === null ||
    typeof output !== 'object' ||
    typeof (output as { write?: unknown }).write !== 'function'
  ) {
    throw new ExportOptionError('output must have a write(string) method');
  }
  const sink = output as { write(chunk: string): unknown };
  const userAttributes = checkAttributes(o.attributes, 'attributes');
  const base = { ...userAttributes, ...source.attributes };

  const lastCounters = new Map<string, number>();
  const averages = new IntervalAverages();
  const histograms = new Map<
    string,
    { name: string; unit: MetricUnit; attributes: MetricAttributes; reservoir: Reservoir }
  >();
  const units = new Map(source.definitions.map((d) => [d.name, d.unit]));
  const unsubscribe = source.subscribe((name, value, attributes = {}) => {
    const unit = units.get(name);
    if (unit === undefined || !Number.isFinite(value)) return;
    const key = `${name}\u0000${keyOf(attributes)}`;
    let entry = histograms.get(key);
    if (!entry) {
      // Bounded: one entry per metric and attribute set (shards, error codes), cleared at every report.
      entry = { name, unit, attributes, reservoir: new Reservoir() };
      histograms.set(key, entry);
    }
    entry.reservoir.add(value);
  });

  const report = (): void => {
    const snapshot = source.snapshot();
    const lines = new Map<string, Line>();
    const add = (
      name: string,
      unit: MetricUnit,
      value: number | number[],
      attributes: MetricAttributes = {},
    ): void => {
      const key = keyOf(attributes);
      let line = lines.get(key);
      if (!line) {
        line = { dimensions: { ...base, ...attributes }, metrics: [] };
        lines.set(key, line);
      }
      line.metrics.push({ name, unit, value });
    };
    for (const definition of source.definitions) {
      if (definition.kind === 'histogram') continue;
      if (definition.kind === 'average') {
        const average = averages.next(definition.name, definition.read(snapshot));
        if (average !== undefined) add(definition.name, definition.unit, average);
        continue;
      }
      for (const point of definition.read(snapshot)) {
        if (!Number.isFinite(point.value)) continue;
        if (definition.kind === 'gauge') {
          add(definition.name, definition.unit, point.value, point.attributes);
          continue;
        }
        const key = `${definition.name}\u0000${keyOf(point.attributes ?? {})}`;
        const last = lastCounters.get(key) ?? 0;
        lastCounters.set(key, point.value);
        // A counter that went down (a shard consumer started over) counts from zero again.
        add(
          definition.name,
          definition.unit,
          point.value >= last ? point.value - last : point.value,
          point.attributes,
        );
      }
    }
    for (const { name, unit, attributes, reservoir } of histograms.values()) {
      add(
        name,
        unit,
        reservoir.values.length === 1 ? (reservoir.values[0] as number) : reservoir.values,
        attributes,
      );
    }
    histograms.clear();
    const timestamp = Date.now();
    let text = '';
    for (const line of lines.values()) {
      const dimensionNames = Object.keys(line.dimensions);
      for (let start = 0; start < line.metrics.length; start += EMF_MAX_METRICS) {
        const chunk = line.metrics.slice(start, start + EMF_MAX_METRICS);
        const document: Record<string, unknown> = {
          _aws: {
            Timestamp: timestamp,
            CloudWatchMetrics: [
              {
                Namespace: namespace,
                Dimensions: [dimensionNames],
                Metrics: chunk.map(({ name, unit }) => ({ Name: name, Unit: unit })),
              },
            ],
          },
          ...line.dimensions,
        };
        for (const { name, value } of chunk) document[name] = value;
        text += `${JSON.stringify(document)}\n`;
      }
    }
    if (text.length > 0) sink.write(text);
  };

  const safeReport = (): void => {
    try {
      report();
    } catch (error) {
      // An exporter must not take the application down; say so once per failure.
      process.emitWarning(`Shardline EMF export failed: ${String(error)}`, {
        code: 'SHARDLINE_METRICS_EXPORT',
      });
    }
  };
  // Counters start from 0: the first report counts what happened since the producer or consumer was created.
  const timer = setInterval(safeReport, intervalMs);
  timer.unref();
  let stopped = false;
  return {
    flush: () => {
      if (!stopped) safeReport();
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      unsubscribe();
      safeReport();
    },
  };
}
