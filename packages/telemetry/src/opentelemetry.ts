// The OpenTelemetry side of the metric exporters: instruments for a table of definitions. Only the producer's
// and the consumer's `./opentelemetry` entries import this entry, so `@opentelemetry/api` (an optional peer
// dependency) is loaded only by users who ask for it.
import {
  type Attributes,
  type BatchObservableCallback,
  type Histogram,
  type Meter,
  metrics,
  type Observable,
} from '@opentelemetry/api';
import {
  checkAttributes,
  checkOptionsObject,
  ExportOptionError,
  IntervalAverages,
  type MetricSource,
  type MetricsExport,
  type MetricUnit,
} from './index.js';

/** Options of `exportToOpenTelemetry`. */
export interface OpenTelemetryExportOptions {
  /**
   * The meter that creates the instruments.
   * @defaultValue `metrics.getMeter(<package name>)` from `@opentelemetry/api`: the global meter provider's
   */
  meter?: Meter;
  /**
   * Attributes added to every metric (for example `{ service: 'billing' }`): at most 20 string values, names
   * other than Shardline's own (`StreamName`, `ShardId`, `ErrorCode`, `ApplicationName`). Never record data.
   * @defaultValue `{}`
   */
  attributes?: Record<string, string>;
}

/** OpenTelemetry's (UCUM) unit for a CloudWatch unit. */
const OTEL_UNITS: Record<MetricUnit, string> = { Count: '1', Bytes: 'By', Milliseconds: 'ms', None: '1' };

/**
 * Creates the instruments: observable counters and gauges read from one snapshot per collection (nothing runs
 * between collections), histograms recorded from events.
 */
export function startOpenTelemetryExport<S>(
  source: MetricSource<S>,
  options: OpenTelemetryExportOptions | undefined,
  meterName: string,
): MetricsExport {
  const o = checkOptionsObject(options, 'exportToOpenTelemetry');
  const meter = (o.meter === undefined ? metrics.getMeter(meterName) : o.meter) as Meter;
  if (
    meter === null ||
    typeof meter !== 'object' ||
    typeof meter.createHistogram !== 'function' ||
    typeof meter.addBatchObservableCallback !== 'function'
  ) {
    throw new ExportOptionError('meter must be an OpenTelemetry Meter');
  }
  const base: Attributes = { ...checkAttributes(o.attributes, 'attributes'), ...source.attributes };
  const histograms = new Map<string, Histogram>();
  const observables: {
    observable: Observable;
    read: (observe: (value: number, attributes: Attributes) => void, snapshot: S) => void;
  }[] = [];
  const averages = new IntervalAverages();
  for (const definition of source.definitions) {
    const instrumentOptions = { description: definition.description, unit: OTEL_UNITS[definition.unit] };
    if (definition.kind === 'histogram') {
      histograms.set(definition.name, meter.createHistogram(definition.name, instrumentOptions));
    } else if (definition.kind === 'average') {
      observables.push({
        observable: meter.createObservableGauge(definition.name, instrumentOptions),
        read: (observe, snapshot) => {
          const average = averages.next(definition.name, definition.read(snapshot));
          if (average !== undefined) observe(average, base);
        },
      });
    } else {
      const observable =
        definition.kind === 'counter'
          ? meter.createObservableCounter(definition.name, instrumentOptions)
          : meter.createObservableGauge(definition.name, instrumentOptions);
      observables.push({
        observable,
        read: (observe, snapshot) => {
          for (const point of definition.read(snapshot)) {
            if (Number.isFinite(point.value)) observe(point.value, { ...base, ...point.attributes });
          }
        },
      });
    }
  }
  const callback: BatchObservableCallback = (result) => {
    const snapshot = source.snapshot();
    for (const { observable, read } of observables) {
      read((value, attributes) => result.observe(observable, value, attributes), snapshot);
    }
  };
  meter.addBatchObservableCallback(
    callback,
    observables.map(({ observable }) => observable),
  );
  const unsubscribe = source.subscribe((name, value, attributes) => {
    histograms.get(name)?.record(value, attributes ? { ...base, ...attributes } : base);
  });
  let stopped = false;
  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      meter.removeBatchObservableCallback(
        callback,
        observables.map(({ observable }) => observable),
      );
    },
  };
}
