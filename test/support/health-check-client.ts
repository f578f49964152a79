import request from 'supertest';
import { type TestApp, bearer, projectionsCaughtUp } from './test-app';

/** The sections of a health report as a test reads them. */
export type ReportedCheck = {
  name: string;
  status: string;
  counts: Record<string, number>;
  findingsCount: number;
  findings: Array<{ kind: string; userId?: string; detail: string } & Record<string, unknown>>;
  note?: string;
};

export type Report = {
  status: string;
  eventsReplayed: number;
  streamsReplayed: number;
  checks: ReportedCheck[];
  repair?: {
    statusBeforeRepair: string;
    repairedUsers: Array<{ userId: string; eventsReplayed: number; cleanAfterRepair: boolean }>;
  };
};

/** `GET /v1/admin/health-check` once the projector has caught up (a test wants no lag in its report). */
export async function healthCheckOf(
  testApp: TestApp,
  query: Record<string, string> = {},
  scope: 'audit' | 'admin' = 'audit',
): Promise<Report> {
  await projectionsCaughtUp(testApp.app);
  const response = await request(testApp.app.getHttpServer())
    .get('/v1/admin/health-check')
    .query(query)
    .set('Authorization', bearer(scope))
    .expect(200);
  return response.body as Report;
}

export function checkOf(report: Report, name: string): ReportedCheck {
  const check = report.checks.find((candidate) => candidate.name === name);
  if (check === undefined) throw new Error(`no check ${name} in ${JSON.stringify(report.checks.map((c) => c.name))}`);
  return check;
}

/** Each check's status by name: one assertion shows them all. */
export function statusesOf(report: Report): Record<string, string> {
  return Object.fromEntries(report.checks.map((check) => [check.name, check.status]));
}
