import { type RecordedCreditsEvent, balanceDelta } from '@libs/credits';
import type { SectionBuilder } from '../health-report';

/** What counts as unusual; every figure is configurable (see HealthCheckOptions). */
export type AnomalyThresholds = {
  /** One movement of more credits than this is worth a look. */
  amountMax: number;
  /** More consumptions than this by one user within `burstWindowSeconds`... */
  burstConsumesMax: number;
  burstWindowSeconds: number;
  /** An event decided or recorded further than this in the future: a wrong clock somewhere. */
  futureSkewSeconds: number;
};

/**
 * Watches one stream's events as they are folded, for the data-anomaly
 * check. Holds at most `burstConsumesMax + 1` times, whatever the stream's length.
 */
export class AnomalyWatch {
  private readonly recentConsumes: number[] = [];
  private inBurst = false;

  constructor(
    private readonly userId: string,
    private readonly section: SectionBuilder,
    private readonly thresholds: AnomalyThresholds,
    private readonly window: { since: number; now: number },
  ) {}

  readonly onEvent = (event: RecordedCreditsEvent & { recordedAt: string }): void => {
    const occurredAt = Date.parse(event.metadata.occurredAt);
    this.watchFuture(event, occurredAt);
    if (occurredAt < this.window.since) return;
    this.section.count('events-in-window');
    this.watchAmount(event);
    if (event.type === 'CreditsConsumed') this.watchBurst(event, occurredAt);
  };

  private watchFuture(event: RecordedCreditsEvent & { recordedAt: string }, occurredAt: number): void {
    const latest = this.window.now + this.thresholds.futureSkewSeconds * 1000;
    if (occurredAt <= latest && Date.parse(event.recordedAt) <= latest) return;
    this.section.add({
      kind: 'event-in-future',
      severity: 'warning',
      userId: this.userId,
      version: event.streamVersion,
      detail: `${event.type} at version ${event.streamVersion} decided at ${event.metadata.occurredAt}, recorded at ${event.recordedAt}`,
    });
  }

  private watchAmount(event: RecordedCreditsEvent): void {
    const amount = Math.abs(balanceDelta(event));
    if (amount <= this.thresholds.amountMax) return;
    this.section.add({
      kind: 'amount-above-threshold',
      severity: 'warning',
      userId: this.userId,
      version: event.streamVersion,
      detail: `${event.type} of ${amount} credits at version ${event.streamVersion} (threshold ${this.thresholds.amountMax})`,
    });
  }

  /** One finding per burst: it starts when the window overflows and ends when it no longer does. */
  private watchBurst(event: RecordedCreditsEvent, occurredAt: number): void {
    const windowStart = occurredAt - this.thresholds.burstWindowSeconds * 1000;
    this.recentConsumes.push(occurredAt);
    while (this.recentConsumes[0] <= windowStart) this.recentConsumes.shift();
    if (this.recentConsumes.length > this.thresholds.burstConsumesMax + 1) this.recentConsumes.shift();
    const overflowing = this.recentConsumes.length > this.thresholds.burstConsumesMax;
    if (overflowing && !this.inBurst) {
      this.section.add({
        kind: 'consumption-burst',
        severity: 'warning',
        userId: this.userId,
        version: event.streamVersion,
        detail:
          `more than ${this.thresholds.burstConsumesMax} consumptions within ${this.thresholds.burstWindowSeconds} s, ` +
          `up to version ${event.streamVersion} at ${event.metadata.occurredAt}`,
      });
    }
    this.inBurst = overflowing;
  }
}
