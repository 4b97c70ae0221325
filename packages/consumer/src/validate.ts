import { ConfigurationError } from './errors.js';

/** An integer option: `fallback` when undefined, else it must lie in min..max. */
export function int(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigurationError(`${name} must be an integer in ${min}..${max} (got ${describe(value)})`);
  }
  return value;
}

/** A value as a configuration error names it: short, and never a client's or processor's internals. */
export function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return 'a function';
  if (value instanceof Date)
    return `Date ${Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString()}`;
  if (typeof value === 'object')
    return value === null
      ? 'null'
      : `an object with keys ${Object.keys(value).slice(0, 5).join(', ') || '(none)'}`;
  if (typeof value === 'bigint') return `${value}n`;
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
