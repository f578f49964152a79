/** How a check came out: `failed` means money may be wrong or unprovable; `warning` needs a look. */
export type CheckStatus = 'ok' | 'warning' | 'failed';

export const CHECK_STATUSES: readonly CheckStatus[] = ['ok', 'warning', 'failed'];

/** One thing a check found, naming the user (or payment) it concerns. */
export type Finding = {
  /** What is wrong, as a stable kebab-case word: `balance-differs`, `stream-without-balance-row`, `version-gap`, ... */
  kind: string;
  /** `failed` or `warning`: a check's status is its worst finding's. */
  severity: Exclude<CheckStatus, 'ok'>;
  userId?: string;
  /** What a reader needs to act: both values compared, the version, the Stripe object id, an age. */
  detail: string;
} & Readonly<Record<string, string | number | boolean | undefined>>;

/** One check's section of the report. */
export type CheckSection = {
  name: CheckName;
  status: CheckStatus;
  /** What was looked at and how much was found, by name: `streams`, `events`, `balance-differs`, ... */
  counts: Record<string, number>;
  /** Every finding counted, at most `findingsMax` listed (the first found). */
  findingsCount: number;
  findings: Finding[];
  /** Why a check did not run or what it could not see (no Stripe key). */
  note?: string;
};

export const CHECK_NAMES = [
  'read-model-vs-replay',
  'transaction-integrity',
  'recharge-status',
  'stripe-payment-sync',
  'configuration',
  'data-anomalies',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

/** What `--repair` did to one user's read-model rows; `repairFailed` says why they were left as they were. */
export type RepairedUser = {
  userId: string;
  eventsReplayed: number;
  cleanAfterRepair: boolean;
  repairFailed?: string;
};

export type HealthReport = {
  status: CheckStatus;
  startedAt: string;
  finishedAt: string;
  eventsReplayed: number;
  streamsReplayed: number;
  checks: CheckSection[];
  /** Present when a repair was asked for: the checks above are then those of the run after it. */
  repair?: { repairedUsers: RepairedUser[]; statusBeforeRepair: CheckStatus };
};

/**
 * Collects one check's findings: counts every one, keeps the first
 * `findingsMax` (so a corrupt database of a million users gives a report, not
 * an out-of-memory), and remembers which users they concern for the repair.
 */
export class SectionBuilder {
  readonly counts: Record<string, number> = {};
  private readonly findings: Finding[] = [];
  private findingsCount = 0;
  private worst: CheckStatus = 'ok';
  private note: string | undefined;

  constructor(
    readonly name: CheckName,
    private readonly findingsMax: number,
  ) {}

  count(name: string, by = 1): void {
    this.counts[name] = (this.counts[name] ?? 0) + by;
  }

  add(finding: Finding): void {
    this.findingsCount++;
    this.count(finding.kind);
    if (this.findings.length < this.findingsMax) this.findings.push(finding);
    this.worst = worse(this.worst, finding.severity);
  }

  /** A check that could not look (no Stripe key): a warning with the reason, never a silent `ok`. */
  skip(reason: string): void {
    this.note = reason;
    this.worst = worse(this.worst, 'warning');
  }

  build(): CheckSection {
    return {
      name: this.name,
      status: this.worst,
      counts: this.counts,
      findingsCount: this.findingsCount,
      findings: this.findings,
      ...(this.note === undefined ? {} : { note: this.note }),
    };
  }
}

export function worse(a: CheckStatus, b: CheckStatus): CheckStatus {
  return CHECK_STATUSES.indexOf(a) >= CHECK_STATUSES.indexOf(b) ? a : b;
}

export function overallStatus(sections: readonly CheckSection[]): CheckStatus {
  return sections.reduce<CheckStatus>((status, section) => worse(status, section.status), 'ok');
}
