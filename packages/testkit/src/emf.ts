// Checks CloudWatch Embedded Metric Format documents against the specification's rules, for the metric
// exporters' tests.

/** The units CloudWatch accepts. */
export const CLOUDWATCH_UNITS = new Set([
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
]);

/** One metric of a validated document: its name, unit, value(s) and dimension values. */
export interface EmfMetric {
  namespace: string;
  name: string;
  unit: string;
  values: number[];
  dimensions: Record<string, string>;
}

/**
 * Parses one EMF line and checks it: `_aws.Timestamp` a non-negative integer (epoch ms);
 * `CloudWatchMetrics` a non-empty array of directives, each with a `Namespace` (1-255 characters), `Dimensions`
 * an array of arrays of at most 30 names, each a member of the document holding a string, and `Metrics` at most
 * 100 `{ Name, Unit? }` with a valid CloudWatch unit, each name a member holding a number or an array of at most
 * 100 numbers. Throws on the first violation; returns the metrics.
 */
export function parseEmfLine(line: string): EmfMetric[] {
  const document = JSON.parse(line) as Record<string, unknown>;
  const fail = (message: string): never => {
    throw new Error(`invalid EMF (${message}): ${line}`);
  };
  if (document === null || typeof document !== 'object' || Array.isArray(document)) fail('not an object');
  const aws = document._aws as Record<string, unknown> | undefined;
  if (!aws || typeof aws !== 'object') fail('no _aws');
  const timestamp = aws?.Timestamp;
  if (typeof timestamp !== 'number' || !Number.isInteger(timestamp) || timestamp < 0) fail('Timestamp');
  const directives = aws?.CloudWatchMetrics;
  if (!Array.isArray(directives) || directives.length === 0) fail('CloudWatchMetrics');
  const metrics: EmfMetric[] = [];
  for (const directive of directives as Record<string, unknown>[]) {
    const namespace = directive.Namespace;
    if (typeof namespace !== 'string' || namespace.length < 1 || namespace.length > 255) fail('Namespace');
    const dimensionSets = directive.Dimensions;
    if (!Array.isArray(dimensionSets)) fail('Dimensions is not an array');
    const dimensions: Record<string, string> = {};
    for (const set of dimensionSets as unknown[]) {
      if (!Array.isArray(set)) fail('a dimension set is not an array');
      if ((set as unknown[]).length > 30) fail('more than 30 dimensions');
      for (const key of set as unknown[]) {
        if (typeof key !== 'string') fail('a dimension name is not a string');
        const value = document[key as string];
        if (typeof value !== 'string' || value.length === 0)
          fail(`dimension ${String(key)} is not a string member`);
        dimensions[key as string] = value as string;
      }
    }
    const list = directive.Metrics;
    if (!Array.isArray(list) || list.length === 0 || list.length > 100) fail('Metrics: 1 to 100');
    for (const definition of list as Record<string, unknown>[]) {
      const name = definition.Name;
      if (typeof name !== 'string' || name.length === 0 || name.length > 1024) fail('Name');
      const unit = definition.Unit ?? 'None';
      if (typeof unit !== 'string' || !CLOUDWATCH_UNITS.has(unit)) fail(`Unit ${String(unit)}`);
      const raw = document[name as string];
      const values = Array.isArray(raw) ? raw : [raw];
      if (values.length === 0 || values.length > 100) fail(`${String(name)}: 1 to 100 values`);
      if (!values.every((v) => typeof v === 'number' && Number.isFinite(v)))
        fail(`${String(name)} not numbers`);
      metrics.push({
        namespace: namespace as string,
        name: name as string,
        unit: unit as string,
        values: values as number[],
        dimensions,
      });
    }
  }
  return metrics;
}

/** Parses every line of `text` (EMF JSON lines) with {@link parseEmfLine}. */
export function parseEmfLines(text: string): EmfMetric[] {
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .flatMap(parseEmfLine);
}
