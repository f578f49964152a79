const DAY_MS = 86_400_000;
const DURATION_UNIT_MS = { m: 60_000, h: 3_600_000, d: DAY_MS } as const;
const DURATION_PATTERN = /^([1-9][0-9]{0,5})([mhd])$/;
/** A date, or a date and time with its zone: `2026-11-20`, `2026-11-20T00:00:00Z`, `2026-11-20T09:30+01:00`. */
const TIMESTAMP_PATTERN = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

export const DAY_MILLISECONDS = DAY_MS;

/**
 * A moment as operators type it: a duration back from `now` (`30m`, `12h`,
 * `7d`) or an instant (`2026-11-20T00:00:00Z`); undefined for anything else.
 */
export function pointInTimeOf(text: string, now: Date): Date | undefined {
  const duration = DURATION_PATTERN.exec(text);
  if (duration) {
    return new Date(
      now.getTime() - Number(duration[1]) * DURATION_UNIT_MS[duration[2] as keyof typeof DURATION_UNIT_MS],
    );
  }
  const instant = TIMESTAMP_PATTERN.test(text) ? new Date(text) : undefined;
  return instant === undefined || Number.isNaN(instant.getTime()) ? undefined : instant;
}

export const DURATION_FORMS = 'a duration (30m, 12h, 7d)';
export const DATE_FORMS = 'a date (2026-11-20 or 2026-11-20T00:00:00Z)';
