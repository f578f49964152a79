import { Injectable } from '@nestjs/common';
import { MetricsRegistry } from '@libs/http';
import { Counter, Histogram } from 'prom-client';

/** Metrics of credits commands, on the app's registry (served at /metrics). */
@Injectable()
export class CreditsMetrics {
  readonly commands: Counter<'command' | 'outcome'>;
  readonly appendDuration: Histogram;
  readonly versionConflicts: Counter;
  readonly retries: Counter;

  constructor(registry: MetricsRegistry) {
    this.commands = new Counter({
      name: 'credits_commands_total',
      help: 'Credits commands handled, by command type and outcome (recorded, replayed, refused:<reason>, failed)',
      labelNames: ['command', 'outcome'] as const,
      registers: [registry],
    });
    this.appendDuration = new Histogram({
      name: 'credits_event_store_append_duration_seconds',
      help: 'Time to append one decision to the event store, conflicts included',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
      registers: [registry],
    });
    this.versionConflicts = new Counter({
      name: 'credits_version_conflicts_total',
      help: 'Appends refused because another writer appended to the stream first',
      registers: [registry],
    });
    this.retries = new Counter({
      name: 'credits_command_retries_total',
      help: 'Commands re-read and decided again after a version conflict',
      registers: [registry],
    });
  }
}
