import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { type CreditsCommand, type CreditsState, creditsStreamId, decide, evolve, initialState } from '@libs/credits';
import type { EventToAppend, SqlDriver } from '@libs/event-store';
import { grantsProjection } from '@projections';
import {
  DAY,
  T0,
  bonus as bonusFor,
  closeDisputeOf,
  consume as consumeFor,
  expire as expireFor,
  failureOf,
  openDisputeOf,
  plus,
  recharge as rechargeFor,
  refundOf,
  voidGrant as voidFor,
} from '../../libs/credits/src/testing/grant-commands';
import { foldOf } from '../../test/support/expiring-grants';
import { type ReadModelDatabase, openReadModelDatabase } from '../../test/support/read-model-database';
import { storeKindsUnderTest } from '../../test/support/test-stores';
import { catchUp } from '../runtime/catch-up';
import { readFileSync } from 'node:fs';

/**
 * Written as a review of the grants read model: every grant row and each user's debt and open disputes must equal
 * the domain's fold of the stream (`foldOf(store, userId).grants`), whatever the batch size the projector read
 * the feed in, with many users per batch, refunds, failures, disputes, expiries, voids and legacy (v1) streams.
 * The projection must never throw on a stream the domain folds: it would stop the projector for every user.
 */

// ---------------------------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------------------------

const HOUR = 3_600_000;
const fixture = JSON.parse(readFileSync(`${__dirname}/../../test/fixtures/streams-before-grants.json`, 'utf8')) as {
  streams: Array<{ events: never[] }>;
};
const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** The command with its user replaced (the builders are written for one user; event ids follow the user). */
function as<C extends CreditsCommand>(userId: string, command: C): C {
  const replaced: C = { ...command, data: { ...command.data, userId } };
  return replaced;
}

/** One user's stream: commands decided on its fold and appended to the store, as the command handler does. */
class UserStream {
  state: CreditsState = initialState();
  constructor(
    readonly db: ReadModelDatabase,
    readonly userId: string,
  ) {}

  async run(command: CreditsCommand): Promise<string> {
    const decision = decide(as(this.userId, command), this.state);
    if (decision.kind !== 'recorded') return decision.kind;
    const events: EventToAppend[] = [];
    let state = this.state;
    for (const event of decision.events) {
      events.push({
        id: event.id,
        type: event.type,
        schemaVersion: event.schemaVersion,
        data: event.data,
        metadata: event.metadata,
      });
      state = evolve(state, { ...event, streamVersion: state.version + 1, globalPosition: '' });
    }
    await this.db.store.appendToStream(creditsStreamId(this.userId), events, {
      expectedVersion: this.state.version,
    });
    this.state = state;
    return 'recorded';
  }

  async record(command: CreditsCommand): Promise<void> {
    const kind = await this.run(command);
    if (kind !== 'recorded') throw new Error(`${command.type} ${command.metadata.idempotencyKey} was ${kind}`);
  }
}

type Names = { grants: string; grant_ledgers: string };

/** A fresh copy of the projection's tables and checkpoint, to project the same feed again at another batch size. */
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

type Compared = Record<string, unknown>;

/** What the read model holds of a user's grants, in the domain's terms. */
async function readModelOf(driver: SqlDriver, names: Names, userId: string): Promise<Compared> {
  const rows = await driver.query<Record<string, unknown>>(
    `select grant_id::text as grant_id, granted::text, debt_paid::text, spent::text, expired::text, voided::text,
       taken_back::text, remaining::text, frozen::text, held::text, status, category, priority, sequence, recharge_id,
       expires_at, rolled_over::text, rollover, source_grant_id::text, rolled_into::text
     from ${names.grants} where user_id = $1 order by sequence`,
    [userId],
  );
  const [ledger] = await driver.query<{ debt: string; disputes: unknown }>(
    `select debt::text as debt, disputes from ${names.grant_ledgers} where user_id = $1`,
    [userId],
  );
  return {
    grants: rows.map((row) => ({
      grantId: row.grant_id,
      category: row.category,
      priority: row.priority,
      sequence: row.sequence,
      rechargeId: row.recharge_id ?? undefined,
      expiresAt: row.expires_at === null ? undefined : new Date(row.expires_at as string).toISOString(),
      granted: Number(row.granted),
      debtPaid: Number(row.debt_paid),
      spent: Number(row.spent),
      expired: Number(row.expired),
      voided: Number(row.voided),
      takenBack: Number(row.taken_back),
      remaining: Number(row.remaining),
      frozen: Number(row.frozen),
      held: Number(row.held),
      rolledOver: Number(row.rolled_over),
      rollover: row.rollover ?? undefined,
      sourceGrantId: row.source_grant_id ?? undefined,
      rolledInto: row.rolled_into ?? undefined,
      status: row.status,
    })),
    debt: ledger === undefined ? 0 : Number(ledger.debt),
    disputes: ledger === undefined ? [] : ledger.disputes,
  };
}

/** The domain's fold of the stream, in the same terms. */
async function foldedOf(db: ReadModelDatabase, userId: string): Promise<Compared> {
  const state = await foldOf(db.store, userId);
  const grants = [...state.grants.byId.values()]
    .sort((a, b) => a.sequence - b.sequence)
    .map((grant) => Object.fromEntries(Object.entries(grant).filter(([key]) => key !== 'expiresAtMs')));
  return {
    grants,
    debt: state.grants.debt,
    disputes: JSON.parse(JSON.stringify([...state.grants.disputes.entries()])),
  };
}

async function expectReadModelMatchesFold(db: ReadModelDatabase, names: Names, userIds: readonly string[]) {
  for (const userId of userIds) {
    const [model, folded] = await Promise.all([readModelOf(db.driver, names, userId), foldedOf(db, userId)]);
    expect({ userId, ...model }).toEqual({ userId, ...folded });
  }
}

/** Appends a stream recorded before grants (schema version 1) under a new user, with fresh event ids. */
async function appendLegacy(
  db: ReadModelDatabase,
  userId: string,
  events: ReadonlyArray<{ type: string; schemaVersion: number; data: unknown; metadata: unknown }>,
  expectedVersion = 0,
): Promise<void> {
  await db.store.appendToStream(
    creditsStreamId(userId),
    events.map((event) => ({
      id: randomUUID(),
      type: event.type,
      schemaVersion: event.schemaVersion,
      data: event.data,
      metadata: event.metadata,
    })) as EventToAppend[],
    { expectedVersion },
  );
}

const v1Metadata = (key: string, occurredAt: string) => ({
  idempotencyKey: key,
  payloadFingerprint: 'review',
  occurredAt,
});

// ---------------------------------------------------------------------------------------------------------------
// Random histories of many users, interleaved (adapted from credits.grants.reversals.unit.spec.ts)
// ---------------------------------------------------------------------------------------------------------------

type Step =
  | { kind: 'bonus'; amount: number; priority: number; expiresInHours?: number }
  | { kind: 'recharge'; credits: number; expiresInHours?: number }
  | { kind: 'consume'; amount: number }
  | { kind: 'expire' | 'void'; pick: number }
  | { kind: 'refund'; pick: number; share: number; debt: boolean }
  | { kind: 'failure'; pick: number }
  | { kind: 'open'; pick: number }
  | { kind: 'close'; pick: number; won: boolean; share: number; debt: boolean };

const stepArbitrary: fc.Arbitrary<{ step: Step; hoursLater: number }> = fc.record({
  hoursLater: fc.integer({ min: 0, max: 30 }),
  step: fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record(
        {
          kind: fc.constant('bonus' as const),
          amount: fc.integer({ min: 1, max: 50 }),
          priority: fc.integer({ min: 0, max: 300 }),
          expiresInHours: fc.integer({ min: 1, max: 72 }),
        },
        { requiredKeys: ['kind', 'amount', 'priority'] },
      ),
    },
    {
      weight: 3,
      arbitrary: fc.record(
        {
          kind: fc.constant('recharge' as const),
          credits: fc.integer({ min: 1, max: 80 }),
          expiresInHours: fc.integer({ min: 1, max: 72 }),
        },
        { requiredKeys: ['kind', 'credits'] },
      ),
    },
    {
      weight: 4,
      arbitrary: fc.record({ kind: fc.constant('consume' as const), amount: fc.integer({ min: 1, max: 40 }) }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('expire' as const, 'void' as const), pick: fc.nat() }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('refund' as const),
        pick: fc.nat(),
        share: fc.integer({ min: 1, max: 100 }),
        debt: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('failure' as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('open' as const), pick: fc.nat() }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('close' as const),
        pick: fc.nat(),
        won: fc.boolean(),
        share: fc.integer({ min: 1, max: 100 }),
        debt: fc.boolean(),
      }),
    },
  ),
});

type RechargeTrack = {
  id: string;
  paid: number;
  refunded: number;
  refunds: Array<{ refundId: string; amount: number; createdAt: number }>;
  dispute: string | undefined;
  disputes: number;
};

/** One user's random history, one step at a time, so that users interleave in the feed. */
class RandomUser {
  nowMs = Date.parse(T0);
  readonly grantIds: string[] = [];
  readonly recharges: RechargeTrack[] = [];
  constructor(
    readonly stream: UserStream,
    readonly steps: ReadonlyArray<{ step: Step; hoursLater: number }>,
  ) {}

  async step(index: number): Promise<void> {
    const next = this.steps[index];
    if (next === undefined) return;
    this.nowMs += next.hoursLater * HOUR;
    const now = new Date(this.nowMs).toISOString();
    const command = this.commandOf(next.step, index, now);
    if (command === undefined) return;
    const kind = await this.stream.run(command);
    if (kind !== 'recorded') return;
    if (command.type === 'GrantBonus' || command.type === 'CompleteRecharge') {
      const events = this.stream.state.outcomes.get(command.metadata.idempotencyKey);
      if (events) this.grantIds.push(events.eventId);
    }
    if (command.type === 'OpenDispute') {
      this.recharges.find((r) => r.id === command.data.rechargeId)!.dispute = command.data.disputeId;
    }
    if (command.type === 'CloseDispute') {
      const track = this.recharges.find((r) => r.id === command.data.rechargeId)!;
      if (track.dispute === command.data.disputeId) track.dispute = undefined;
    }
  }

  private commandOf(step: Step, index: number, now: string): CreditsCommand | undefined {
    const grantIds = this.grantIds;
    const recharges = this.recharges;
    const pickedGrant = (pick: number) => grantIds[pick % Math.max(1, grantIds.length)] ?? randomUUID();
    const pickedRecharge = (pick: number) => recharges[pick % Math.max(1, recharges.length)];
    const at = seconds(now) + index;
    switch (step.kind) {
      case 'bonus':
        return bonusFor(
          `bonus-${index}`,
          step.amount,
          {
            priority: step.priority,
            ...(step.expiresInHours === undefined ? {} : { expiresIn: `PT${step.expiresInHours}H` }),
          },
          now,
        );
      case 'recharge': {
        const id = `${this.stream.userId}-pack-${index}`;
        recharges.push({ id, paid: step.credits * 10, refunded: 0, refunds: [], dispute: undefined, disputes: 0 });
        const hours = step.expiresInHours;
        return rechargeFor(id, step.credits, now, hours === undefined ? undefined : plus(now, hours * HOUR));
      }
      case 'consume':
        return consumeFor(`job-${index}`, step.amount, now);
      case 'expire':
        return expireFor(pickedGrant(step.pick), now);
      case 'void':
        return voidFor(pickedGrant(step.pick), now);
      case 'refund': {
        const target = pickedRecharge(step.pick);
        if (target === undefined || target.refunded >= target.paid) return undefined;
        const amount = Math.min(
          target.paid - target.refunded,
          Math.max(1, Math.ceil((target.paid * step.share) / 100)),
        );
        target.refunded += amount;
        target.refunds.push({ refundId: `re_${this.stream.userId}_${index}`, amount, createdAt: at });
        return refundOf(target.id, target.refunded, now, step.debt ? 'debt' : 'writeoff', at);
      }
      case 'failure': {
        const target = pickedRecharge(step.pick);
        const refund = target?.refunds.shift();
        if (target === undefined || refund === undefined) return undefined;
        target.refunded -= refund.amount;
        return failureOf(target.id, refund.refundId, refund.amount, { createdAt: refund.createdAt, failedAt: at }, now);
      }
      case 'open': {
        const target = pickedRecharge(step.pick);
        if (target === undefined) return undefined;
        target.disputes += 1;
        return openDisputeOf(target.id, `dp_${target.id}_${target.disputes}`, now);
      }
      case 'close': {
        const disputed = recharges.filter((r) => r.dispute !== undefined);
        const target = disputed[step.pick % Math.max(1, disputed.length)];
        if (target?.dispute === undefined) return undefined;
        const amountDisputed = Math.max(1, Math.ceil((target.paid * step.share) / 100));
        return closeDisputeOf(
          target.id,
          target.dispute,
          step.won ? 'won' : 'lost',
          amountDisputed,
          step.debt ? 'debt' : 'writeoff',
          now,
        );
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Specs
// ---------------------------------------------------------------------------------------------------------------

describe.each(storeKindsUnderTest())('the grants read model equals the domain fold on %s', (kind) => {
  let db: ReadModelDatabase;

  beforeEach(async () => {
    db = await openReadModelDatabase(kind);
  });

  afterEach(async () => {
    await db?.close();
  });

  // PINS: random histories of 24 users with refunds (debt and writeoff), refund failures, disputes opened/won/lost,
  // expiring bonuses, expiries and voids, interleaved in the feed so every batch mixes users. Projected at batch
  // sizes 1, 7 and 1000 (a rebuild from scratch each time), every grant row, the debt and the open disputes
  // equal the fold.
  it('random interleaved histories of many users: rows, debt and disputes equal the fold at batch sizes 1, 7, 1000', async () => {
    const histories = fc.sample(fc.array(stepArbitrary, { minLength: 10, maxLength: 50 }), {
      numRuns: 24,
      seed: 20261207,
    });
    const users = histories.map(
      (steps, index) => new RandomUser(new UserStream(db, `review-${index}-${randomUUID()}`), steps),
    );
    const longest = Math.max(...histories.map((steps) => steps.length));
    for (let index = 0; index < longest; index++) {
      for (const user of users) await user.step(index);
    }
    const userIds = users.map((user) => user.stream.userId);
    for (const batchSize of [1, 7, 1000]) {
      const names = await projectInto(db, `random_b${batchSize}`, batchSize);
      await expectReadModelMatchesFold(db, names, userIds);
    }
  });

  // Was a defect, fixed (projection halts for everyone, on the committed fixture itself): the 40 streams recorded before
  // grants (test/fixtures/streams-before-grants.json, schema v1: no drawnFrom, no terms, disputes that froze
  // other grants than the recharge's), appended under new users with fresh event ids, fold without error; the
  // projection must give the same rows at every batch size. At batch size 1000 (the whole feed in one batch,
  // every grant in memory) it does; at small batch sizes it throws ProjectionInvariantError on stream 24
  // ("no grant ... in this stream", at version 28): see the next test for the mechanism. In production the
  // projector reads batches of its configured size, so which users break depends on where batch boundaries
  // fall: after an upgrade the grants projection (and with it GET grants, the balance's spendable/byCategory and
  // the expiry process's index) stops at the first such user, for every user, and a rebuild stops there too.
  it.each([1000, 7, 1])(
    'legacy v1 streams of the fixture project like the fold at batch size %i',
    async (batchSize) => {
      const userIds: string[] = [];
      for (const [index, stream] of fixture.streams.entries()) {
        const userId = `legacy-review-${index}-${randomUUID()}`;
        await appendLegacy(db, userId, stream.events);
        userIds.push(userId);
      }
      const names = await projectInto(db, `legacy_b${batchSize}`, batchSize);
      await expectReadModelMatchesFold(db, names, userIds);
    },
  );

  // Was a defect, fixed (projection halts for everyone): a dispute recorded before grants froze credits of a BONUS (v1
  // disputes froze the recharge's share of the whole balance, spilling over to other grants in spend order); a v1
  // refund then took those frozen credits (takeBack's third pass), leaving the bonus at remaining 0, frozen 0,
  // while the dispute's `frozenFrom` still names it. The dispute then closes (CreditsUnfrozen). The fold releases
  // min(credits, frozen) = 0 from the bonus and goes on. The projection, when the close falls in a later batch
  // than the refund, loads only grants with remaining > 0, recharge grants and grants the batch's events name
  // (the dispute's frozenFrom is not among them): `unfreeze` asks for the bonus and `grantOf` throws
  // "no grant ... in this stream" -> ProjectionInvariantError -> the projector stops for every user, and a
  // rebuild stops at the same event. Expected: the read model loads the grants the open disputes name (or
  // releasing a grant it does not hold is a no-op), and equals the fold.
  it('a v1 dispute that froze a bonus, a v1 refund that took it, then the dispute closes: projects at batch size 1', async () => {
    const userId = `legacy-frozen-bonus-${randomUUID()}`;
    const at = (minutes: number) => new Date(Date.parse('2025-03-01T00:00:00.000Z') + minutes * 60_000).toISOString();
    const source = { kind: 'stripe', stripeEventId: 'evt_review' };
    await appendLegacy(db, userId, [
      {
        type: 'RechargeCompleted',
        schemaVersion: 1,
        data: { rechargeId: `${userId}-r1`, credits: 10, amountPaid: 100, currency: 'eur', source, metadata: {} },
        metadata: v1Metadata(`recharge:${userId}-r1`, at(1)),
      },
      {
        type: 'CreditsConsumed',
        schemaVersion: 1,
        data: { amount: 10, feature: 'face-swap', reference: 'job-1', metadata: {} },
        metadata: v1Metadata('consume:1', at(2)),
      },
      {
        type: 'BonusGranted',
        schemaVersion: 1,
        data: { amount: 50, reason: 'welcome', metadata: {} },
        metadata: v1Metadata('bonus:1', at(3)),
      },
      {
        // Before grants, the dispute froze the recharge's share of the whole balance: R1 has nothing left, so
        // its 50 come from the bonus.
        type: 'CreditsFrozen',
        schemaVersion: 1,
        data: { rechargeId: `${userId}-r1`, disputeId: 'dp_1', credits: 50, source },
        metadata: v1Metadata('dispute:dp_1:opened', at(4)),
      },
      {
        type: 'RechargeCompleted',
        schemaVersion: 1,
        data: { rechargeId: `${userId}-r2`, credits: 60, amountPaid: 600, currency: 'eur', source, metadata: {} },
        metadata: v1Metadata(`recharge:${userId}-r2`, at(5)),
      },
      {
        type: 'CreditsConsumed',
        schemaVersion: 1,
        data: { amount: 60, feature: 'face-swap', reference: 'job-2', metadata: {} },
        metadata: v1Metadata('consume:2', at(6)),
      },
      {
        // A v1 refund of R2 under debt took the balance's 50, frozen or not: the bonus's frozen 50, then 10 of debt.
        type: 'RechargeRefunded',
        schemaVersion: 1,
        data: {
          rechargeId: `${userId}-r2`,
          reason: 'refund',
          refundedBy: 'ch_r2',
          amountRefundedBy: 600,
          refundedAt: seconds(at(7)),
          creditsUnfrozen: 0,
          shortfallPolicy: 'debt',
          source: { ...source, chargeId: 'ch_r2' },
          amountRefundedTotal: 600,
          creditsTakenBack: 60,
          creditsDebited: 60,
          shortfallCredits: 10,
        },
        metadata: v1Metadata(`refund:${userId}-r2:ch_r2:600`, at(7)),
      },
      {
        type: 'CreditsUnfrozen',
        schemaVersion: 1,
        data: { rechargeId: `${userId}-r1`, disputeId: 'dp_1', credits: 50, source },
        metadata: v1Metadata('dispute:dp_1:closed', at(8)),
      },
    ]);
    const folded = await foldOf(db.store, userId);
    // The fold takes the stream: the bonus is empty, the dispute closed.
    expect(folded.recharges.get(`${userId}-r1`)?.dispute).toBeUndefined();

    // One batch holding the whole stream works (the bonus is in memory)...
    const whole = await projectInto(db, 'frozen_bonus_b1000', 1000);
    await expectReadModelMatchesFold(db, whole, [userId]);
    // ...one event per batch must too.
    const names = await projectInto(db, 'frozen_bonus_b1', 1);
    await expectReadModelMatchesFold(db, names, [userId]);
  });

  // Same shape through a lost dispute: `RechargeRefunded` (dispute-lost) releases the dispute's frozenFrom first.
  it('... and the same v1 history closed by a lost dispute (new-style, decided on the fold) projects at batch size 1', async () => {
    const userId = `legacy-frozen-bonus-lost-${randomUUID()}`;
    const at = (minutes: number) => new Date(Date.parse('2025-03-01T00:00:00.000Z') + minutes * 60_000).toISOString();
    const source = { kind: 'stripe', stripeEventId: 'evt_review' };
    const r1 = `${userId}-r1`;
    await appendLegacy(db, userId, [
      {
        type: 'RechargeCompleted',
        schemaVersion: 1,
        data: { rechargeId: r1, credits: 10, amountPaid: 100, currency: 'eur', source, metadata: {} },
        metadata: v1Metadata(`recharge:${r1}`, at(1)),
      },
      {
        type: 'CreditsConsumed',
        schemaVersion: 1,
        data: { amount: 10, feature: 'face-swap', reference: 'job-1', metadata: {} },
        metadata: v1Metadata('consume:1', at(2)),
      },
      {
        type: 'BonusGranted',
        schemaVersion: 1,
        data: { amount: 50, reason: 'welcome', metadata: {} },
        metadata: v1Metadata('bonus:1', at(3)),
      },
      {
        type: 'CreditsFrozen',
        schemaVersion: 1,
        data: { rechargeId: r1, disputeId: 'dp_1', credits: 50, source },
        metadata: v1Metadata('dispute:dp_1:opened', at(4)),
      },
      {
        type: 'RechargeCompleted',
        schemaVersion: 1,
        data: { rechargeId: `${userId}-r2`, credits: 60, amountPaid: 600, currency: 'eur', source, metadata: {} },
        metadata: v1Metadata(`recharge:${userId}-r2`, at(5)),
      },
      {
        type: 'CreditsConsumed',
        schemaVersion: 1,
        data: { amount: 60, feature: 'face-swap', reference: 'job-2', metadata: {} },
        metadata: v1Metadata('consume:2', at(6)),
      },
      {
        type: 'RechargeRefunded',
        schemaVersion: 1,
        data: {
          rechargeId: `${userId}-r2`,
          reason: 'refund',
          refundedBy: 'ch_r2',
          amountRefundedBy: 600,
          refundedAt: seconds(at(7)),
          creditsUnfrozen: 0,
          shortfallPolicy: 'debt',
          source: { ...source, chargeId: 'ch_r2' },
          amountRefundedTotal: 600,
          creditsTakenBack: 60,
          creditsDebited: 60,
          shortfallCredits: 10,
        },
        metadata: v1Metadata(`refund:${userId}-r2:ch_r2:600`, at(7)),
      },
    ]);
    // Today, the dispute is lost: decided by the domain on the fold, appended after the legacy events.
    const stream = new UserStream(db, userId);
    stream.state = await foldOf(db.store, userId);
    await stream.record(closeDisputeOf(r1, 'dp_1', 'lost', 100, 'debt', at(60)));

    const names = await projectInto(db, 'frozen_bonus_lost_b1', 1);
    await expectReadModelMatchesFold(db, names, [userId]);
  });

  // PINS: a recharge refunded to nothing (remaining 0), given back by a failed refund in a later batch, while
  // disputed (the give-back is frozen), then the dispute won; with a bonus expiring and expired in between.
  it('a refund failure gives back to an emptied recharge grant while disputed, each event its own batch', async () => {
    const userId = `giveback-${randomUUID()}`;
    const stream = new UserStream(db, userId);
    const r = `${userId}-r`;
    await stream.record(rechargeFor(r, 100, T0));
    const b = bonusFor('b', 30, { expiresIn: 'P1D' }, T0);
    await stream.record(b);
    await stream.record(consumeFor('c1', 20, T0));
    const refundedAt = seconds(plus(T0, HOUR));
    await stream.record(refundOf(r, 1000, plus(T0, HOUR), 'debt', refundedAt));
    await stream.record(openDisputeOf(r, 'dp_1', plus(T0, 2 * HOUR)));
    await stream.record(
      failureOf(r, 're_1', 1000, { createdAt: refundedAt, failedAt: refundedAt + 60 }, plus(T0, 3 * HOUR)),
    );
    const bonusId = stream.state.outcomes.get('b')!.eventId;
    await stream.record(expireFor(bonusId, plus(T0, 2 * DAY)));
    await stream.record(closeDisputeOf(r, 'dp_1', 'won', 1000, 'debt', plus(T0, 3 * DAY)));
    await stream.record(consumeFor('c2', 5, plus(T0, 3 * DAY)));
    for (const batchSize of [1, 2, 3, 1000]) {
      const names = await projectInto(db, `giveback_b${batchSize}`, batchSize);
      await expectReadModelMatchesFold(db, names, [userId]);
    }
  });

  it('a refund failure returns the debt it left to a bonus that paid it and has expired since', async () => {
    const userId = `debt-giveback-${randomUUID()}`;
    const stream = new UserStream(db, userId);
    const r = `${userId}-r`;
    await stream.record(rechargeFor(r, 100, T0));
    await stream.record(consumeFor('c1', 100, T0));
    const refundedAt = seconds(plus(T0, HOUR));
    await stream.record(refundOf(r, 1000, plus(T0, HOUR), 'debt', refundedAt));
    await stream.record(bonusFor('payer', 100, { expiresIn: 'P1D' }, plus(T0, 2 * HOUR)));
    await stream.record(expireFor(stream.state.outcomes.get('payer')!.eventId, plus(T0, 2 * DAY)));
    await stream.record(
      failureOf(r, 're_1', 1000, { createdAt: refundedAt, failedAt: refundedAt + 60 }, plus(T0, 3 * DAY)),
    );
    for (const batchSize of [1, 1000]) {
      const names = await projectInto(db, `debt_giveback_b${batchSize}`, batchSize);
      await expectReadModelMatchesFold(db, names, [userId]);
    }
  });

  it('a dispute of a period whose carry-over was spent finds the carry-over the projection had not loaded', async () => {
    const userId = `carried-dispute-${randomUUID()}`;
    const stream = new UserStream(db, userId);
    const p = `${userId}-period`;
    const end = plus(T0, 30 * DAY);
    const period = rechargeFor(p, 100, T0, end);
    await stream.record({ ...period, data: { ...period.data, rollover: { expiresAt: plus(end, 31 * DAY) } } });
    await stream.record(expireFor(stream.state.recharges.get(p)!.grantId, end));
    await stream.record(consumeFor('c1', 100, plus(end, DAY)));
    await stream.record(openDisputeOf(p, 'dp_1', plus(end, 2 * DAY)));
    for (const batchSize of [1, 1000]) {
      const names = await projectInto(db, `carried_dispute_b${batchSize}`, batchSize);
      await expectReadModelMatchesFold(db, names, [userId]);
    }
  });

  it('a refund failure returns credits to a bonus voided since, which the projection had not loaded', async () => {
    const userId = `closed-giveback-${randomUUID()}`;
    const stream = new UserStream(db, userId);
    const r = `${userId}-r`;
    await stream.record(rechargeFor(r, 100, T0));
    await stream.record(bonusFor('reserve', 50, { priority: 300 }, T0));
    await stream.record(consumeFor('c1', 100, T0));
    const refundedAt = seconds(plus(T0, HOUR));
    await stream.record(refundOf(r, 1000, plus(T0, HOUR), 'debt', refundedAt));
    await stream.record(voidFor(stream.state.outcomes.get('reserve')!.eventId, plus(T0, 2 * HOUR)));
    await stream.record(
      failureOf(r, 're_1', 1000, { createdAt: refundedAt, failedAt: refundedAt + 60 }, plus(T0, 3 * HOUR)),
    );
    for (const batchSize of [1, 1000]) {
      const names = await projectInto(db, `closed_giveback_b${batchSize}`, batchSize);
      await expectReadModelMatchesFold(db, names, [userId]);
    }
  });
});
