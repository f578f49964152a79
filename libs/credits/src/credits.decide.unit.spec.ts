import { validate as isUuid, v5 as uuidV5, version as uuidVersion } from 'uuid';
import type { CommandMetadata, CompleteRecharge, ConsumeCredits, CreditsCommand, GrantBonus } from './credits.commands';
import { type Decision, decide } from './credits.decide';
import type { BonusGranted, CreditsConsumed, CreditsEvent, RechargeCompleted } from './credits.events';
import { eventIdFor, payloadFingerprint, rechargeEventId, rechargeIdempotencyKey } from './credits.idempotency';
import { AMOUNT_CREDITS_MAX, BALANCE_CREDITS_MAX } from './credits.limits';
import type { GrantCredits } from './credits.grants';
import type { FeaturePrice } from './price-list';
import { type CreditsState, evolve, initialState } from './credits.state';
import { creditsStreamId } from './credits.stream';
import { given, recordAfter } from './testing/credits.given-when-then';

const USER_ID = 'user-1';
const STREAM_ID = 'credits-user-1';
const NOW = '2025-03-01T09:00:00.000Z';
const LATER = '2025-03-02T17:30:00.000Z';
const INVALID_AMOUNTS = [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, AMOUNT_CREDITS_MAX + 1];

describe('decide ConsumeCredits', () => {
  describe('when the balance is zero', () => {
    it('refuses with insufficient-credits', () => {
      given()
        .when(consumeCredits({ amount: 1 }))
        .thenRefuses({ type: 'insufficient-credits', balance: 0, requested: 1 });
    });

    it('refuses an invalid amount as such, before looking at the balance', () => {
      given()
        .when(consumeCredits({ amount: 0 }))
        .thenRefuses({ type: 'invalid-amount', amount: 0 });
    });
  });

  describe('when the balance covers the amount', () => {
    it('records CreditsConsumed with the feature, reference and client metadata, and lowers the balance', () => {
      const consume = consumeCredits({ amount: 30, metadata: { uploadId: 'upload-42', pages: 3 } });

      const state = given(completeRecharge({ credits: 100 }))
        .when(consume)
        .thenRecords({
          type: 'CreditsConsumed',
          schemaVersion: 2,
          ...idAndMetadataOf(consume),
          data: {
            amount: 30,
            feature: 'document-upload',
            reference: 'upload-42',
            metadata: { uploadId: 'upload-42', pages: 3 },
            drawnFrom: [{ grantId: rechargeEventId('recharge-1'), credits: 30 }],
          },
        });

      expect(state.balance).toBe(70);
    });

    it('spends the whole balance down to zero', () => {
      const consume = consumeCredits({ amount: 100 });

      const bonus = grantBonus({ amount: 40 });

      const state = given(completeRecharge({ credits: 60 }), bonus)
        .when(consume)
        .thenRecords(
          creditsConsumed(consume, [
            { grantId: idAndMetadataOf(bonus).id, credits: 40 },
            { grantId: rechargeEventId('recharge-1'), credits: 60 },
          ]),
        );

      expect(state.balance).toBe(0);
    });
  });

  describe('when the balance does not cover the amount', () => {
    it('refuses with insufficient-credits, naming the balance and the amount requested', () => {
      given(completeRecharge({ credits: 100 }), consumeCredits({ amount: 30, idempotencyKey: 'consume-0' }))
        .when(consumeCredits({ amount: 71 }))
        .thenRefuses({ type: 'insufficient-credits', balance: 70, requested: 71 });
    });
  });

  describe('when the command was already recorded with the same payload', () => {
    it('replays the original outcome, even though the balance no longer covers the amount', () => {
      const consume = consumeCredits({ amount: 80 });

      given(completeRecharge({ credits: 100 }), consume)
        .when(consume)
        .thenReplays({
          eventType: 'CreditsConsumed',
          eventId: eventIdFor(STREAM_ID, 'consume-1'),
          payloadFingerprint: payloadFingerprint(consume),
          amount: 80,
          balanceAfter: 20,
          streamVersion: 2,
          globalPosition: '1002',
        });
    });

    it('replays the balance right after the original, not the current balance', () => {
      const consume = consumeCredits({ amount: 30 });

      given(completeRecharge({ credits: 100 }), consume, grantBonus({ amount: 50 }))
        .when(consume)
        .thenReplays({
          eventType: 'CreditsConsumed',
          eventId: eventIdFor(STREAM_ID, 'consume-1'),
          payloadFingerprint: payloadFingerprint(consume),
          amount: 30,
          balanceAfter: 70,
          streamVersion: 2,
          globalPosition: '1002',
        });
    });

    it('replays a retry sent later, with its client metadata in another key order', () => {
      const consume = consumeCredits({ amount: 30, metadata: { uploadId: 'upload-42', pages: 3 } });
      const retry = consumeCredits({ amount: 30, metadata: { pages: 3, uploadId: 'upload-42' }, now: LATER });

      given(completeRecharge({ credits: 100 }), consume)
        .when(retry)
        .thenReplays({
          eventType: 'CreditsConsumed',
          eventId: eventIdFor(STREAM_ID, 'consume-1'),
          payloadFingerprint: payloadFingerprint(consume),
          amount: 30,
          balanceAfter: 70,
          streamVersion: 2,
          globalPosition: '1002',
        });
    });
  });

  describe('when the price list changed since the command was recorded', () => {
    it('replays a retry with the original outcome, at the price it was charged', () => {
      const original = consumeCredits({ amount: 30, price: { credits: 1, amountOverride: { amountMax: 50 } } });
      const retry = consumeCredits({ amount: 30, price: { credits: 5 } });
      const state = stateAfter(completeRecharge({ credits: 100 }), original);

      expect(decide(retry, state)).toEqual({ kind: 'replayed', outcome: state.outcomes.get('consume-1') });
      expect(state.outcomes.get('consume-1')?.amount).toBe(30);
    });

    it('replays a retry even once the feature left the price list', () => {
      const original = consumeCredits({ amount: 30 });
      const retry = consumeCredits({ amount: 30, price: undefined });
      const state = stateAfter(completeRecharge({ credits: 100 }), original);

      expect(decide(retry, state)).toMatchObject({ kind: 'replayed' });
    });
  });

  describe('when the price list refuses it', () => {
    it('refuses a feature it does not list with unknown-feature', () => {
      given(completeRecharge({ credits: 100 }))
        .when(consumeCredits({ amount: 1, price: undefined }))
        .thenRefuses({ type: 'unknown-feature', feature: 'document-upload' });
    });

    it('refuses a named amount on a fixed price with amount-override-not-allowed', () => {
      given(completeRecharge({ credits: 100 }))
        .when(consumeCredits({ amount: 3, price: { credits: 3 } }))
        .thenRefuses({ type: 'amount-override-not-allowed', feature: 'document-upload' });
    });
  });

  describe('when another event of the same payment arrives', () => {
    it('replays: the source names the Stripe event, which differs per event of one payment', () => {
      const fromSession = completeRecharge({ credits: 500 });
      const fromPaymentIntent = completeRecharge({
        credits: 500,
        source: { kind: 'stripe', stripeEventId: 'evt_2', paymentIntentId: 'pi_1' },
      });

      given(fromSession)
        .when(fromPaymentIntent)
        .thenReplays({
          eventType: 'RechargeCompleted',
          eventId: rechargeEventId('recharge-1'),
          payloadFingerprint: payloadFingerprint(fromSession),
          amount: 500,
          balanceAfter: 500,
          streamVersion: 1,
          globalPosition: '1001',
        });
    });
  });

  describe('with the same key and another payload', () => {
    it.each<[string, Partial<ConsumeArguments>]>([
      ['another amount', { amount: 31 }],
      ['another feature', { feature: 'video-upload' }],
      ['another reference', { reference: 'upload-43' }],
      ['other client metadata', { metadata: { uploadId: 'upload-43' } }],
    ])('refuses %s with idempotency-key-reused', (_, change) => {
      given(completeRecharge({ credits: 100 }), consumeCredits({ amount: 30 }))
        .when(consumeCredits({ amount: 30, ...change }))
        .thenRefuses({ type: 'idempotency-key-reused', idempotencyKey: 'consume-1' });
    });

    it('refuses a key already recorded by another kind of command', () => {
      given(completeRecharge({ credits: 100 }), grantBonus({ amount: 1, idempotencyKey: 'shared-key' }))
        .when(consumeCredits({ amount: 30, idempotencyKey: 'shared-key' }))
        .thenRefuses({ type: 'idempotency-key-reused', idempotencyKey: 'shared-key' });
    });
  });

  describe('amount limits', () => {
    it.each(INVALID_AMOUNTS)('refuses %p credits with invalid-amount, whatever the balance', (amount) => {
      given(completeRecharge({ credits: AMOUNT_CREDITS_MAX }))
        .when(consumeCredits({ amount }))
        .thenRefuses({ type: 'invalid-amount', amount });
    });

    it('accepts the largest amount, AMOUNT_CREDITS_MAX, when the balance covers it', () => {
      const consume = consumeCredits({ amount: AMOUNT_CREDITS_MAX });

      const state = given(completeRecharge({ credits: AMOUNT_CREDITS_MAX }))
        .when(consume)
        .thenRecords(
          creditsConsumed(consume, [{ grantId: rechargeEventId('recharge-1'), credits: AMOUNT_CREDITS_MAX }]),
        );

      expect(state.balance).toBe(0);
    });
  });
});

describe('decide GrantBonus', () => {
  describe('when the balance is zero', () => {
    it('records BonusGranted with the reason and client metadata, and raises the balance', () => {
      const grant = grantBonus({ amount: 25, metadata: { campaign: 'spring' } });

      const state = given()
        .when(grant)
        .thenRecords({
          type: 'BonusGranted',
          schemaVersion: 2,
          ...idAndMetadataOf(grant),
          data: {
            amount: 25,
            reason: 'welcome',
            metadata: { campaign: 'spring' },
            category: 'promotional',
            priority: 100,
            debtPaidCredits: 0,
          },
        });

      expect(state.balance).toBe(25);
    });
  });

  describe('when the balance is positive', () => {
    it('adds the bonus to it', () => {
      const grant = grantBonus({ amount: 25 });

      const state = given(completeRecharge({ credits: 100 }))
        .when(grant)
        .thenRecords(bonusGranted(grant));

      expect(state.balance).toBe(125);
    });
  });

  describe('when the command was already recorded with the same payload', () => {
    it('replays the original outcome at a later time', () => {
      const grant = grantBonus({ amount: 25 });

      given(completeRecharge({ credits: 100 }), grant, consumeCredits({ amount: 125 }))
        .when(grantBonus({ amount: 25, now: LATER }))
        .thenReplays({
          eventType: 'BonusGranted',
          eventId: eventIdFor(STREAM_ID, 'bonus-1'),
          payloadFingerprint: payloadFingerprint(grant),
          amount: 25,
          balanceAfter: 125,
          streamVersion: 2,
          globalPosition: '1002',
        });
    });
  });

  describe('with the same key and another payload', () => {
    it.each<[string, Partial<GrantArguments>]>([
      ['another amount', { amount: 26 }],
      ['another reason', { reason: 'apology' }],
      ['other client metadata', { metadata: { campaign: 'autumn' } }],
    ])('refuses %s with idempotency-key-reused', (_, change) => {
      given(grantBonus({ amount: 25 }))
        .when(grantBonus({ amount: 25, ...change }))
        .thenRefuses({ type: 'idempotency-key-reused', idempotencyKey: 'bonus-1' });
    });
  });

  describe('amount limits', () => {
    it.each(INVALID_AMOUNTS)('refuses %p credits with invalid-amount', (amount) => {
      given().when(grantBonus({ amount })).thenRefuses({ type: 'invalid-amount', amount });
    });

    it('accepts the largest amount, AMOUNT_CREDITS_MAX', () => {
      const grant = grantBonus({ amount: AMOUNT_CREDITS_MAX });

      const state = given().when(grant).thenRecords(bonusGranted(grant));

      expect(state.balance).toBe(AMOUNT_CREDITS_MAX);
    });
  });

  describe('when the balance is close to BALANCE_CREDITS_MAX', () => {
    it('refuses a bonus that would take it over, with balance-limit-exceeded', () => {
      given(migratedBalance(BALANCE_CREDITS_MAX - 100))
        .when(grantBonus({ amount: 101 }))
        .thenRefuses({
          type: 'balance-limit-exceeded',
          balance: BALANCE_CREDITS_MAX - 100,
          requested: 101,
          balanceMax: BALANCE_CREDITS_MAX,
        });
    });

    it('accepts a bonus that fills it exactly', () => {
      const grant = grantBonus({ amount: 100 });

      const state = given(migratedBalance(BALANCE_CREDITS_MAX - 100))
        .when(grant)
        .thenRecords(bonusGranted(grant));

      expect(state.balance).toBe(BALANCE_CREDITS_MAX);
    });
  });
});

describe('decide CompleteRecharge', () => {
  describe('when the balance is zero', () => {
    it('records RechargeCompleted with the amount paid and its Stripe source, and raises the balance', () => {
      const recharge = completeRecharge({ credits: 500, metadata: { plan: 'starter' } });

      const state = given()
        .when(recharge)
        .thenRecords({
          type: 'RechargeCompleted',
          schemaVersion: 3,
          ...idAndMetadataOf(recharge),
          data: {
            rechargeId: 'recharge-1',
            credits: 500,
            amountPaid: 1_999,
            currency: 'eur',
            source: { kind: 'stripe', stripeEventId: 'evt_1', checkoutSessionId: 'cs_1' },
            metadata: { plan: 'starter' },
            category: 'paid',
            priority: 200,
            debtPaidCredits: 0,
          },
        });

      expect(state.balance).toBe(500);
    });
  });

  describe('when the balance is positive', () => {
    it('adds the credits bought to it', () => {
      const recharge = completeRecharge({ credits: 500, rechargeId: 'recharge-2' });

      const state = given(completeRecharge({ credits: 100 }))
        .when(recharge)
        .thenRecords(rechargeCompleted(recharge));

      expect(state.balance).toBe(600);
    });
  });

  describe('when the command was already recorded with the same payload', () => {
    it('replays the original outcome for a webhook delivered again', () => {
      const recharge = completeRecharge({ credits: 500 });

      given(recharge, consumeCredits({ amount: 200 }))
        .when(completeRecharge({ credits: 500, now: LATER }))
        .thenReplays({
          eventType: 'RechargeCompleted',
          eventId: rechargeEventId('recharge-1'),
          payloadFingerprint: payloadFingerprint(recharge),
          amount: 500,
          balanceAfter: 500,
          streamVersion: 1,
          globalPosition: '1001',
        });
    });
  });

  describe('with the same key and another payload', () => {
    it.each<[string, Partial<RechargeArguments>]>([
      ['other credits', { credits: 501 }],
      ['another amount paid', { amountPaid: 2_999 }],
      ['another currency', { currency: 'usd' }],
    ])('refuses %s with idempotency-key-reused', (_, change) => {
      given(completeRecharge({ credits: 500 }))
        .when(completeRecharge({ credits: 500, ...change }))
        .thenRefuses({ type: 'idempotency-key-reused', idempotencyKey: 'recharge:recharge-1' });
    });
  });

  describe('with a key that is not its recharge id', () => {
    it('is a caller bug and throws: two keys for one payment could credit it twice', () => {
      const keyedAnyhow = completeRecharge({ credits: 500, idempotencyKey: 'webhook-evt_1' });

      expect(() => decide(keyedAnyhow, initialState())).toThrow('must carry the idempotency key "recharge:recharge-1"');
    });
  });

  describe('event id', () => {
    it('depends on the recharge id alone, so the store refuses the same payment for another user', () => {
      const forAlice = completeRecharge({ credits: 500, userId: 'alice' });
      const forBob = completeRecharge({ credits: 500, userId: 'bob' });

      expect(eventIdsOf(decide(forAlice, initialState()))).toEqual(eventIdsOf(decide(forBob, initialState())));
    });
  });

  describe('amount limits', () => {
    it.each(INVALID_AMOUNTS)('refuses %p credits with invalid-amount', (credits) => {
      given().when(completeRecharge({ credits })).thenRefuses({ type: 'invalid-amount', amount: credits });
    });

    it('accepts the largest amount, AMOUNT_CREDITS_MAX', () => {
      const recharge = completeRecharge({ credits: AMOUNT_CREDITS_MAX });

      const state = given().when(recharge).thenRecords(rechargeCompleted(recharge));

      expect(state.balance).toBe(AMOUNT_CREDITS_MAX);
    });
  });

  describe('when the balance is close to BALANCE_CREDITS_MAX', () => {
    it('refuses a recharge that would take it over, with balance-limit-exceeded', () => {
      given(migratedBalance(BALANCE_CREDITS_MAX - 100))
        .when(completeRecharge({ credits: 101 }))
        .thenRefuses({
          type: 'balance-limit-exceeded',
          balance: BALANCE_CREDITS_MAX - 100,
          requested: 101,
          balanceMax: BALANCE_CREDITS_MAX,
        });
    });

    it('accepts a recharge that fills it exactly', () => {
      const recharge = completeRecharge({ credits: 100 });

      const state = given(migratedBalance(BALANCE_CREDITS_MAX - 100))
        .when(recharge)
        .thenRecords(rechargeCompleted(recharge));

      expect(state.balance).toBe(BALANCE_CREDITS_MAX);
    });
  });
});

describe('event ids', () => {
  it('are a UUID v5 of the stream and the idempotency key, the same every time', () => {
    const eventId = eventIdFor(STREAM_ID, 'consume-1');

    expect(isUuid(eventId)).toBe(true);
    expect(uuidVersion(eventId)).toBe(5);
    expect(eventIdFor(STREAM_ID, 'consume-1')).toBe(eventId);
  });

  it("are the ids of the uuid package's v5 of the same names, non-ASCII ones included, and for recharges too", () => {
    const namespace = '6f1c2a4e-93b5-4d0a-8f7e-2b9c1d5e7a30';
    for (const key of ['consume-1', 'clé-été-😀', '', 'x'.repeat(300)]) {
      expect(eventIdFor(STREAM_ID, key, 2)).toBe(uuidV5(`${STREAM_ID}\n${key}\n2`, namespace));
    }
    expect(rechargeEventId('pi_123')).toBe(uuidV5('recharge\npi_123', namespace));
  });

  it('differ with the idempotency key', () => {
    expect(eventIdFor(STREAM_ID, 'consume-2')).not.toBe(eventIdFor(STREAM_ID, 'consume-1'));
  });

  it('differ with the stream, for the same idempotency key', () => {
    expect(eventIdFor(creditsStreamId('user-2'), 'consume-1')).not.toBe(eventIdFor(STREAM_ID, 'consume-1'));
  });

  it('do not depend on the state or the time a command is decided at', () => {
    const early = decide(grantBonus({ amount: 25 }), initialState());
    const late = decide(grantBonus({ amount: 25, now: LATER }), stateAfter(completeRecharge({ credits: 100 })));

    expect(eventIdsOf(late)).toEqual([eventIdFor(STREAM_ID, 'bonus-1')]);
    expect(eventIdsOf(early)).toEqual(eventIdsOf(late));
  });

  it('differ between two commands with different idempotency keys', () => {
    const first = decide(grantBonus({ amount: 25, idempotencyKey: 'bonus-1' }), initialState());
    const second = decide(grantBonus({ amount: 25, idempotencyKey: 'bonus-2' }), initialState());

    expect(eventIdsOf(first)).toEqual([eventIdFor(STREAM_ID, 'bonus-1')]);
    expect(eventIdsOf(second)).toEqual([eventIdFor(STREAM_ID, 'bonus-2')]);
  });
});

describe('evolve', () => {
  it('throws on a gap in stream versions', () => {
    const state = stateAfter(completeRecharge({ credits: 100 }));
    const skipping = { ...bonusGranted(grantBonus({ amount: 25 })), streamVersion: 3, globalPosition: '1003' };

    expect(() => evolve(state, skipping)).toThrow('credits stream folded out of order: state at version 1');
  });

  it('throws on an event at a version already folded', () => {
    const state = stateAfter(completeRecharge({ credits: 100 }));
    const repeating = { ...bonusGranted(grantBonus({ amount: 25 })), streamVersion: 1, globalPosition: '1002' };

    expect(() => evolve(state, repeating)).toThrow('credits stream folded out of order: state at version 1');
  });

  it('throws when an event would take the balance below zero', () => {
    const state = stateAfter(completeRecharge({ credits: 100 }));
    const overdraft = { ...creditsConsumed(consumeCredits({ amount: 101 })), streamVersion: 2, globalPosition: '1002' };

    expect(() => evolve(state, overdraft)).toThrow('credits balance out of bounds (-1)');
  });

  it('throws when an event would take the balance above BALANCE_CREDITS_MAX', () => {
    const recharge = completeRecharge({ credits: 100 });
    const oversized = { ...rechargeCompleted(recharge), streamVersion: 1, globalPosition: '1001' };
    oversized.data = { ...oversized.data, credits: BALANCE_CREDITS_MAX + 1 };

    expect(() => evolve(initialState(), oversized)).toThrow('credits balance out of bounds');
  });

  it('throws when a stream records one idempotency key twice', () => {
    const state = stateAfter(completeRecharge({ credits: 100 }));
    const again = {
      ...rechargeCompleted(completeRecharge({ credits: 100 })),
      streamVersion: 2,
      globalPosition: '1002',
    };

    expect(() => evolve(state, again)).toThrow('idempotency key recorded twice in one stream');
  });

  it('keeps a global position above 2^53 exact in the outcome', () => {
    const recharge = completeRecharge({ credits: 100 });
    const recorded = { ...rechargeCompleted(recharge), streamVersion: 1, globalPosition: '9007199254740993' };

    const state = evolve(initialState(), recorded);

    expect(state.outcomes.get('recharge:recharge-1')?.globalPosition).toBe('9007199254740993');
  });
});

/** The amount a test names is the caller's requested amount, on a feature that allows any. */
type ConsumeArguments = Omit<ConsumeCredits['data'], 'requestedAmount' | 'price'> &
  CommandMetadata & { amount: number; price?: FeaturePrice };

const ANY_AMOUNT_PRICE: FeaturePrice = { credits: 1, amountOverride: { amountMax: AMOUNT_CREDITS_MAX } };
type GrantArguments = GrantBonus['data'] & CommandMetadata;
type RechargeArguments = CompleteRecharge['data'] & CommandMetadata;

function consumeCredits(changes: Partial<ConsumeArguments> & Pick<ConsumeArguments, 'amount'>): ConsumeCredits {
  const { idempotencyKey = 'consume-1', now = NOW, amount, ...data } = changes;
  // An explicit `price: undefined` means a feature missing from the price list.
  const price = 'price' in changes ? changes.price : ANY_AMOUNT_PRICE;
  delete data.price;
  return {
    type: 'ConsumeCredits',
    data: {
      userId: USER_ID,
      feature: 'document-upload',
      reference: 'upload-42',
      metadata: {},
      ...data,
      requestedAmount: amount,
      price,
    },
    metadata: { idempotencyKey, now },
  };
}

function grantBonus(changes: Partial<GrantArguments> & Pick<GrantArguments, 'amount'>): GrantBonus {
  const { idempotencyKey = 'bonus-1', now = NOW, ...data } = changes;
  return {
    type: 'GrantBonus',
    data: { userId: USER_ID, reason: 'welcome', metadata: {}, ...data },
    metadata: { idempotencyKey, now },
  };
}

function completeRecharge(changes: Partial<RechargeArguments> & Pick<RechargeArguments, 'credits'>): CompleteRecharge {
  const { now = NOW, ...data } = changes;
  const idempotencyKey = changes.idempotencyKey ?? rechargeIdempotencyKey(changes.rechargeId ?? 'recharge-1');
  delete data.idempotencyKey;
  return {
    type: 'CompleteRecharge',
    data: {
      userId: USER_ID,
      rechargeId: 'recharge-1',
      amountPaid: 1_999,
      currency: 'eur',
      source: { kind: 'stripe', stripeEventId: 'evt_1', checkoutSessionId: 'cs_1' },
      metadata: {},
      ...data,
    },
    metadata: { idempotencyKey, now },
  };
}

/** What the store identifies an event by: the id from the stream and key, and the command it records. */
function idAndMetadataOf(command: CreditsCommand): Pick<CreditsEvent, 'id' | 'metadata'> {
  return {
    id:
      command.type === 'CompleteRecharge'
        ? rechargeEventId(command.data.rechargeId)
        : eventIdFor(STREAM_ID, command.metadata.idempotencyKey),
    metadata: {
      idempotencyKey: command.metadata.idempotencyKey,
      payloadFingerprint: payloadFingerprint(command),
      occurredAt: command.metadata.now,
    },
  };
}

/** Without `drawnFrom`, as consumptions were recorded before grants: the fold draws them in spend order. */
function creditsConsumed(command: ConsumeCredits, drawnFrom?: GrantCredits[]): CreditsConsumed {
  const { requestedAmount: amount = NaN, feature, reference, metadata } = command.data;
  return {
    type: 'CreditsConsumed',
    schemaVersion: 2,
    ...idAndMetadataOf(command),
    data: { amount, feature, reference, metadata, ...(drawnFrom === undefined ? {} : { drawnFrom }) },
  };
}

function bonusGranted(command: GrantBonus): BonusGranted {
  const { amount, reason, metadata } = command.data;
  return {
    type: 'BonusGranted',
    schemaVersion: 2,
    ...idAndMetadataOf(command),
    data: { amount, reason, metadata, category: 'promotional', priority: 100, debtPaidCredits: 0 },
  };
}

function rechargeCompleted(command: CompleteRecharge): RechargeCompleted {
  const { rechargeId, credits, amountPaid, currency, source, metadata } = command.data;
  return {
    type: 'RechargeCompleted',
    schemaVersion: 3,
    ...idAndMetadataOf(command),
    data: {
      rechargeId,
      credits,
      amountPaid,
      currency,
      source,
      metadata,
      category: 'paid',
      priority: 200,
      debtPaidCredits: 0,
    },
  };
}

/**
 * A balance no single command can reach: one recharge imported from a former system stands in for the million
 * top-ups of AMOUNT_CREDITS_MAX it would take to get close to BALANCE_CREDITS_MAX.
 */
function migratedBalance(credits: number): RechargeCompleted {
  return {
    type: 'RechargeCompleted',
    schemaVersion: 3,
    id: eventIdFor(STREAM_ID, 'migrated-balance'),
    data: {
      rechargeId: 'migrated',
      credits,
      amountPaid: 0,
      currency: 'eur',
      source: { kind: 'manual' },
      metadata: {},
      category: 'paid',
      priority: 200,
    },
    metadata: { idempotencyKey: 'migrated-balance', payloadFingerprint: 'migrated', occurredAt: NOW },
  };
}

function decidedEvents(command: CreditsCommand, state = initialState()): CreditsEvent[] {
  const decision = decide(command, state);
  if (decision.kind !== 'recorded') throw new Error(`expected ${command.type} to be recorded, got ${decision.kind}`);
  return decision.events;
}

function stateAfter(...commands: CreditsCommand[]): CreditsState {
  return commands.reduce(
    (state, command) => recordAfter(state, decidedEvents(command, state), 1000n).reduce(evolve, state),
    initialState(),
  );
}

function eventIdsOf(decision: Decision): string[] {
  return decision.kind === 'recorded' ? decision.events.map((event) => event.id) : [];
}
