import type { StartingPosition } from '../retrieval/PollingFetcher.js';

/**
 * `--from`: `trim-horizon`, `latest`, an ISO 8601 time (`AT_TIMESTAMP`) or a sequence number (all digits,
 * `AT_SEQUENCE_NUMBER`, so the record itself is printed first). Throws a message naming the value given.
 */
export function parseStartingPosition(text: string): StartingPosition {
  const lower = text.toLowerCase();
  if (lower === 'trim-horizon' || lower === 'trim_horizon') return { type: 'TRIM_HORIZON' };
  if (lower === 'latest') return { type: 'LATEST' };
  if (/^\d+$/.test(text)) return { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: text };
  // Only something that looks like a date: Date.parse alone accepts '1' or 'May 3'.
  const time = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (!Number.isNaN(time)) return { type: 'AT_TIMESTAMP', timestamp: new Date(time) };
  throw new Error(
    `--from must be trim-horizon, latest, an ISO 8601 time or a sequence number (got ${JSON.stringify(text)})`,
  );
}
