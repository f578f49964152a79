import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The service's Prometheus metrics, on a registry of its own per app instance
 * (never prom-client's global one: two apps in one process must not collide).
 */
export class CreditsMetrics {
  readonly registry = new Registry();

  readonly commands = new Counter({
    name: 'credits_commands_total',
    help: 'Credits commands handled, by command type and outcome (recorded, replayed, refused:<reason>, failed)',
    labelNames: ['command', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly appendDuration = new Histogram({
    name: 'credits_event_store_append_duration_seconds',
    help: 'Time to append one decision to the event store, conflicts included',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
    registers: [this.registry],
  });

  readonly versionConflicts = new Counter({
    name: 'credits_version_conflicts_total',
    help: 'Appends refused because another writer appended to the stream first',
    registers: [this.registry],
  });

  readonly retries = new Counter({
    name: 'credits_command_retries_total',
    help: 'Commands re-read and decided again after a version conflict',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
