import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type AppConfig, ConfigError, exitWhenFlushed, loadConfig } from '@libs/config';
import { EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import { PROJECTIONS, READ_MODEL_DB, catchUp } from '@projections';
import { Presets, SingleBar } from 'cli-progress';
import { AppModule } from '../app.module';
import { withoutStripeKeys } from '../stripe/stripe-api.client';
import { HealthCheckOptionsError, type HealthCheckOptions, healthCheckOptionsFrom } from './health-check.options';
import { type HealthCheckProgress, HealthCheck } from './health-check.service';
import type { CheckSection, HealthReport } from './health-report';

const USAGE = `usage: npm run health -- [--users a,b] [--since 7d|DATE] [--json] [--repair] [--findings N]
         [--stale-after SECONDS] [--expiry-grace SECONDS]
         [--amount-max CREDITS] [--burst-max N] [--burst-window SECONDS] [--future-skew SECONDS]
  Exit code: 0 every check ok or warning, 1 some check failed, 2 the check could not run.`;

const EXIT = { passed: 0, failed: 1, couldNotRun: 2 } as const;

const SETTINGS = [
  'users',
  'since',
  'findings',
  'stale-after',
  'expiry-grace',
  'amount-max',
  'burst-max',
  'burst-window',
  'future-skew',
];

/**
 * `npm run health`: the six checks from the command line, with the same
 * service as `GET /v1/admin/health-check`. On PGlite stop the service first
 * (one process opens a data directory).
 */
async function main(argv: string[]): Promise<number> {
  let options: HealthCheckOptions;
  let json: boolean;
  let config: AppConfig;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        ...Object.fromEntries(SETTINGS.map((name) => [name, { type: 'string' as const }])),
        json: { type: 'boolean' },
        repair: { type: 'boolean' },
      },
    });
    json = values.json === true;
    options = healthCheckOptionsFrom(values, new Date());
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`configuration error (run it with the service's environment): ${withoutStripeKeys(error.message)}`);
      return EXIT.couldNotRun;
    }
    if (!(error instanceof HealthCheckOptionsError) && !(error instanceof TypeError && 'code' in error)) throw error;
    console.error(`${error.message}\n${USAGE}`);
    return EXIT.couldNotRun;
  }
  const started = performance.now();
  const report = await runCheck(config, options, json);
  if (json) console.log(JSON.stringify(report));
  else printReport(report);
  printEffort(report, (performance.now() - started) / 1000);
  return report.status === 'failed' ? EXIT.failed : EXIT.passed;
}

async function runCheck(config: AppConfig, options: HealthCheckOptions, json: boolean): Promise<HealthReport> {
  const app = await NestFactory.createApplicationContext(
    AppModule.forRoot({ ...config, role: 'api' }, []),
    // Warnings go to stdout in Nest's logger: with --json, stdout holds the report alone.
    { logger: config.logLevel === 'silent' || json ? ['error'] : ['error', 'warn'], abortOnError: false },
  );
  const progress = !json && process.stderr.isTTY ? progressBar() : undefined;
  try {
    if (config.eventStore.kind === 'pglite') await catchUpEmbeddedProjections(app, config);
    return await app.get(HealthCheck).run(options, progress?.update);
  } finally {
    progress?.stop();
    await app.close();
  }
}

/**
 * In the embedded mode the service is stopped while this runs (one process
 * opens a data directory), so no projector has applied the last events: this
 * one catches up first, or the check would report that lag. A projection that
 * cannot apply an event is left behind, and the check reports why.
 */
async function catchUpEmbeddedProjections(app: INestApplicationContext, config: AppConfig): Promise<void> {
  const [driver, store] = [app.get<SqlDriver>(READ_MODEL_DB), app.get<EventStore>(EVENT_STORE)];
  for (const projection of PROJECTIONS) {
    try {
      await catchUp(driver, store, projection, { batchSize: config.projector.batchSize });
    } catch (error) {
      console.error(
        `projection ${projection.name} could not catch up: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}

/** On a terminal: events replayed of the total, events/s and the time left, on stderr. */
function progressBar() {
  const bar = new SingleBar(
    { format: 'replay [{bar}] {value}/{total} events | {speed} events/s | ETA {eta}s', stream: process.stderr },
    Presets.shades_classic,
  );
  const started = performance.now();
  let running = false;
  return {
    update: ({ eventsReplayed, eventsTotal }: HealthCheckProgress) => {
      if (!running) bar.start(eventsTotal, 0, { speed: 0 });
      running = true;
      const seconds = Math.max((performance.now() - started) / 1000, 0.001);
      bar.update(eventsReplayed, { speed: Math.round(eventsReplayed / seconds) });
    },
    stop: () => running && bar.stop(),
  };
}

/** On stderr, so that `--json` keeps stdout for the report: what the run cost, for capacity planning. */
function printEffort(report: HealthReport, seconds: number): void {
  const peakMiB = peakResidentKiB() / 1024;
  console.error(
    `replayed ${report.eventsReplayed} events of ${report.streamsReplayed} streams in ${seconds.toFixed(1)} s ` +
      `(${Math.round(report.eventsReplayed / Math.max(seconds, 0.001))} events/s); ` +
      `peak resident memory ${peakMiB.toFixed(0)} MiB`,
  );
}

/**
 * This process's peak resident memory. `VmHWM` belongs to the process image:
 * `getrusage`'s maxRSS survives fork and exec, so a CLI started by a big
 * parent (a test runner) would report the parent's size.
 */
function peakResidentKiB(): number {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const highWater = /^VmHWM:\s+(\d+) kB$/m.exec(status);
    if (highWater !== null) return Number(highWater[1]);
  } catch {
    // Not Linux: the portable figure.
  }
  return process.resourceUsage().maxRSS;
}

const STATUS_MARK = { ok: 'ok     ', warning: 'WARNING', failed: 'FAILED ' } as const;

function printReport(report: HealthReport): void {
  console.log(
    `health check ${report.status.toUpperCase()}: ${report.streamsReplayed} streams, ${report.eventsReplayed} events ` +
      `replayed (${report.startedAt} to ${report.finishedAt})`,
  );
  report.checks.forEach(printSection);
  if (report.repair !== undefined) {
    console.log(`repair (status before it: ${report.repair.statusBeforeRepair}):`);
    if (report.repair.repairedUsers.length === 0) console.log('  nothing to repair');
    for (const { userId, eventsReplayed, cleanAfterRepair, repairFailed } of report.repair.repairedUsers) {
      const outcome =
        repairFailed === undefined
          ? `rows rebuilt from ${eventsReplayed} events, ${cleanAfterRepair ? 'clean' : 'STILL DRIFTING'}`
          : `NOT REPAIRED, rows left as they were: ${repairFailed}`;
      console.log(`  ${userId}: ${outcome}`);
    }
  }
}

function printSection(section: CheckSection): void {
  const counts = Object.entries(section.counts)
    .map(([name, count]) => `${name} ${count}`)
    .join(', ');
  console.log(`  ${STATUS_MARK[section.status]} ${section.name}${counts === '' ? '' : `: ${counts}`}`);
  if (section.note !== undefined) console.log(`            ${section.note}`);
  for (const finding of section.findings) {
    console.log(
      `            - ${finding.kind}${finding.userId === undefined ? '' : ` (user ${finding.userId})`}: ${finding.detail}`,
    );
  }
  const unlisted = section.findingsCount - section.findings.length;
  if (unlisted > 0) console.log(`            ... and ${unlisted} more (--findings N lists more)`);
}

// Exits once the report is out: `process.exit` right away would cut a report piped to another program.
main(process.argv.slice(2)).then(exitWhenFlushed, (error: unknown) => {
  console.error(
    `the health check could not run: ${withoutStripeKeys(error instanceof Error ? (error.stack ?? error.message) : String(error))}`,
  );
  exitWhenFlushed(EXIT.couldNotRun);
});
