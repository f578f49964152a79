import { Injectable } from '@nestjs/common';

/** Resolves with details when the dependency is fine; throws (or rejects) when it is not. */
export type ReadinessCheck = () => Promise<Record<string, unknown> | void>;

/** What `/health/ready` asks; each module registers the checks of what it depends on. */
@Injectable()
export class ReadinessChecks {
  private readonly checks = new Map<string, ReadinessCheck>();

  register(name: string, check: ReadinessCheck): void {
    if (this.checks.has(name)) throw new Error(`readiness check "${name}" registered twice`);
    this.checks.set(name, check);
  }

  entries(): ReadonlyArray<[string, ReadinessCheck]> {
    return [...this.checks.entries()];
  }
}
