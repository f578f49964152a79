import { randomUUID } from 'node:crypto';
import {
  type CompleteRecharge,
  type CreditsCommand,
  type CreditsState,
  creditsStreamId,
  decide,
  evolve,
  initialState,
} from '@libs/credits';
import type { EventToAppend } from '@libs/event-store';
import { grantsProjection } from '@projections';
import {
  DAY,
  T0,
  bonus,
  consume,
  expire,
  failureOf,
  plus,
  recharge,
  refundOf,
} from '../../libs/credits/src/testing/grant-commands';
import { foldOf } from '../../test/support/expiring-grants';
import { type ReadModelDatabase, openReadModelDatabase } from '../../test/support/read-model-database';
import { storeKindsUnderTest } from '../../test/support/test-stores';
import { catchUp } from '../runtime/catch-up';

/**
 * Review of the grants read model with carry-overs and debt returns: rows, debt and disputes must equal the
 * domain's fold at every batch size (the projection loads only grants holding credits, recharges' grants and
 * the grants the batch's events name).
 */
const HOUR = 3_600_000;
const E = plus(T0, 30 * DAY);
const NEXT = plus(E, 31 * DAY);
const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

function as<C extends CreditsCommand>(userId: string, command: C): C {
  return { ...command, data: { ...command.data, userId } };
}

const withRollover = (command: CompleteRecharge, creditsMax?: number): CompleteRecharge => ({
  ...command,
  data: { ...command.data, rollover: { ...(creditsMax === undefined ? {} : { creditsMax }), expiresAt: NEXT } },
});

class UserStream {
  state: CreditsState = initialState();
  constructor(
    readonly db: ReadModelDatabase,
    readonly userId: string,
  ) {}

  async record(command: CreditsCommand): Promise<CreditsState> {
    const decision = decide(as(this.userId, command), this.state);
    if (decision.kind !== 'recorded') throw new Error(`${command.type}: ${JSON.stringify(decision)}`);
    const events: EventToAppend[] = [];
    let state = this.state;
    for (const event of decision.events) {
      const { id, type, schemaVersion, data, metadata } = event;
      events.push({ id, type, schemaVersion, data, metadata });
      state = evolve(state, { ...event, streamVersion: state.version + 1, globalPosition: '' });
    }
    await this.db.store.appendToStream(creditsStreamId(this.userId), events, { expectedVersion: this.state.version });
    this.state = state;
    return state;
  }

  grantOf(rechargeId: string): string {
    return this.state.recharges.get(`${this.userId}-${rechargeId}`)!.grantId;
  }
}

type Names = { grants: string; grant_ledgers: string };

async function projectInto(db: ReadModelDatabase, suffix: string, batchSize: number): Promise<Names> {
  const names = { grants: `grants_${suffix}`, grant_ledgers: `grant_ledgers_${suffix}` };
  await db.driver.exec(grantsProjection.createTables(names));
  await catchUp(db.driver, db.store, grantsProjection, {
    batchSize,
    tables: names,
    checkpointName: `grants_${suffix}`,
  });
  return names;
}

async function expectReadModelMatchesFold(db: ReadModelDatabase, names: Names, userId: string): Promise<void> {
  const rows = await db.driver.query<Record<string, unknown>>(
    `select grant_id::text as grant_id, granted::text, debt_paid::text, spent::text, expired::text, voided::text,
       taken_back::text, remaining::text, frozen::text, status, rolled_over::text, rollover,
       source_grant_id::text, rolled_into::text
     from ${names.grants} where user_id = $1 order by sequence`,
    [userId],
  );
  const [ledger] = await db.driver.query<{ debt: string; disputes: unknown }>(
    `select debt::text as debt, disputes from ${names.grant_ledgers} where user_id = $1`,
    [userId],
  );
  const state = await foldOf(db.store, userId);
  const folded = [...state.grants.byId.values()].sort((a, b) => a.sequence - b.sequence);
  expect({
    debt: Number(ledger.debt),
    disputes: ledger.disputes,
    grants: rows.map((row) => ({
      grantId: row.grant_id,
      granted: Number(row.granted),
      debtPaid: Number(row.debt_paid),
      spent: Number(row.spent),
      expired: Number(row.expired),
      voided: Number(row.voided),
      takenBack: Number(row.taken_back),
      remaining: Number(row.remaining),
      frozen: Number(row.frozen),
      status: row.status,
      rolledOver: Number(row.rolled_over),
      rollover: row.rollover ?? undefined,
      sourceGrantId: row.source_grant_id ?? undefined,
      rolledInto: row.rolled_into ?? undefined,
    })),
  }).toEqual({
    debt: state.grants.debt,
    disputes: JSON.parse(JSON.stringify([...state.grants.disputes.entries()])),
    grants: folded.map((grant) => ({
      grantId: grant.grantId,
      granted: grant.granted,
      debtPaid: grant.debtPaid,
      spent: grant.spent,
      expired: grant.expired,
      voided: grant.voided,
      takenBack: grant.takenBack,
      remaining: grant.remaining,
      frozen: grant.frozen,
      status: grant.status,
      rolledOver: grant.rolledOver,
      rollover: grant.rollover,
      sourceGrantId: grant.sourceGrantId,
      rolledInto: grant.rolledInto,
    })),
  });
}

describe.each(storeKindsUnderTest())('the grants read model with carry-overs equals the fold on %s', (kind) => {
  let db: ReadModelDatabase;

  beforeEach(async () => {
    db = await openReadModelDatabase(kind);
  });

  afterEach(async () => {
    await db?.close();
  });

  it.each([1, 2, 1000])(
    'a capped carry-over paying debt, a refund of the period after it, both failing: at batch size %i',
    async (batchSize) => {
      const user = new UserStream(db, `rollover-${randomUUID()}`);
      const packRefundAt = plus(E, HOUR);
      await user.record(withRollover(recharge(`${user.userId}-period`, 100, T0, E), 60));
      await user.record(recharge(`${user.userId}-pack`, 50, T0, plus(E, -DAY)));
      await user.record(consume('job-1', 60, plus(T0, HOUR)));
      // Past the period's end, before the process: pack's refund cannot take the period's credits: debt.
      await user.record(refundOf(`${user.userId}-pack`, 500, packRefundAt, 'debt'));
      await user.record(expire(user.grantOf('period'), plus(E, 2 * HOUR)));
      const periodRefundAt = plus(E, DAY);
      await user.record(refundOf(`${user.userId}-period`, 300, periodRefundAt, 'writeoff'));
      await user.record(
        failureOf(
          `${user.userId}-pack`,
          're-pack',
          500,
          { createdAt: seconds(packRefundAt), failedAt: seconds(plus(E, 2 * DAY)) },
          plus(E, 2 * DAY),
        ),
      );
      await user.record(
        failureOf(
          `${user.userId}-period`,
          're-period',
          300,
          { createdAt: seconds(periodRefundAt), failedAt: seconds(plus(E, 3 * DAY)) },
          plus(E, 3 * DAY),
        ),
      );
      const carried = user.state.grants.byId.get(user.grantOf('period'))!.rolledInto!;
      // The carried grant expires with what it holds; it never carries again.
      await user.record(expire(carried, NEXT));
      expect(user.state.grants.byId.get(carried)).toMatchObject({ status: 'expired', rollover: undefined });
      const names = await projectInto(db, `rollover_b${batchSize}`, batchSize);
      await expectReadModelMatchesFold(db, names, user.userId);
    },
  );

  it.each([1, 1000])(
    'a debt payment undone on a grant spent to nothing since (a bonus with nothing left, loaded as named): at batch size %i',
    async (batchSize) => {
      const user = new UserStream(db, `undone-${randomUUID()}`);
      const refundAt = plus(T0, 2 * HOUR);
      await user.record(recharge(`${user.userId}-pack`, 50, T0));
      await user.record(consume('job-1', 50, plus(T0, HOUR)));
      await user.record(refundOf(`${user.userId}-pack`, 500, refundAt, 'debt'));
      await user.record(bonus('next', 80, {}, plus(T0, 3 * HOUR)));
      await user.record(consume('job-2', 30, plus(T0, 4 * HOUR)));
      await user.record(
        failureOf(
          `${user.userId}-pack`,
          're-1',
          500,
          { createdAt: seconds(refundAt), failedAt: seconds(plus(T0, DAY)) },
          plus(T0, DAY),
        ),
      );
      const payer = [...user.state.grants.byId.values()].find((grant) => grant.granted === 80)!;
      expect(payer).toMatchObject({ rechargeId: undefined, debtPaid: 0, spent: 30, remaining: 50 });
      const names = await projectInto(db, `undone_b${batchSize}`, batchSize);
      await expectReadModelMatchesFold(db, names, user.userId);
    },
  );
});
