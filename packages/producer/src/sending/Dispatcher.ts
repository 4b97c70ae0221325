import type { KeyGate } from '../collection/KeyGate.js';
import type { Entry } from '../collection/RequestBuilder.js';
import type { Pipeline } from '../pipeline.js';
import type { ShardRouter } from '../routing/ShardRouter.js';
import { markSent } from '../settlement/RecordLifecycle.js';
import type { Results } from '../settlement/Results.js';
import type { Sender } from './Sender.js';

/** The request of these entries was answered (or failed): their shards count them from now (see RateLimiter). */
function answered(entries: readonly Entry[], now: number): void {
  for (const entry of entries) entry.take.owner.answered(entry.take, now);
}

/**
 * Sends built requests and hands each outcome to settlement: counts requests in flight (the
 * `maxInFlightRequests` bound the scheduler reads), marks records sent, and lets the ordered-mode gate know
 * which keys are now in flight.
 */
export class Dispatcher {
  /** Requests sent and not yet answered. */
  inFlight = 0;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly sender: Sender,
    private readonly results: Results,
    private readonly router: ShardRouter,
    private readonly gate: KeyGate,
  ) {}

  dispatch(entries: Entry[], userRecords: number): void {
    const { recorder, wakeup } = this.pipeline;
    const now = Date.now();
    const mapVersion = this.router.shardMap.version;
    const bufferingTime = recorder.bufferingTime;
    const gate = this.gate;
    let deadline = 0;
    for (const entry of entries) {
      for (const record of entry.records) {
        if (markSent(record)) bufferingTime.add(now - record.receivedAt);
        if (record.deadline > deadline) deadline = record.deadline;
        gate.enter(record);
      }
    }
    recorder.kinesisRecordsPerRequest.add(entries.length);
    recorder.userRecordsPerRequest.add(userRecords);
    this.inFlight += 1;
    const results = this.results;
    void this.sender
      .send(entries, deadline, (failed) =>
        results.failedTry(entries, failed.error, failed.startedAt, failed.durationMs, failed.sdkAttempts),
      )
      .then((outcome) => {
        this.inFlight -= 1;
        answered(entries, Date.now());
        if (outcome.ok) {
          recorder.requestTime.add(outcome.durationMs);
          results.answered(
            entries,
            outcome.results,
            outcome.startedAt,
            outcome.durationMs,
            outcome.sdkAttempts,
            mapVersion,
          );
        } else {
          results.requestFailed(entries, userRecords, outcome.error, outcome.cause);
        }
        wakeup.soon();
      })
      .catch((error: unknown) => {
        answered(entries, Date.now());
        // A bug must not leave puts unsettled: whatever this request still holds fails, retriable.
        results.internalError(entries, error);
        wakeup.soon();
      });
  }
}
