import type { RecordedCreditsEvent } from '@libs/credits';
import {
  type BalanceAlert,
  type BalanceAlertState,
  NO_BALANCE,
  evolveBalanceAlerts,
  spendableOf,
} from './balance-alerts';

/** Events as the store returns them, with what the alerts read of each. */
let version = 0;
function recorded(type: string, data: Record<string, unknown>): RecordedCreditsEvent {
  version++;
  return {
    type,
    schemaVersion: 1,
    id: `event-${version}`,
    data,
    metadata: { idempotencyKey: `key-${version}`, payloadFingerprint: 'f', occurredAt: '2026-12-07T00:00:00.000Z' },
    streamVersion: version,
    globalPosition: String(version),
  } as unknown as RecordedCreditsEvent;
}
const bonus = (amount: number) => recorded('BonusGranted', { amount });
const consumed = (amount: number) => recorded('CreditsConsumed', { amount });
const held = (amount: number) => recorded('CreditsHeld', { amount });
const released = (credits: number) =>
  recorded('HoldReleased', {
    debtPaidFrom: [],
    returnedTo: [{ grantId: 'g', credits }],
    frozenFrom: [],
    lapsed: [],
    creditsLapsedOnReturn: 0,
    expired: [],
  });

function play(
  events: RecordedCreditsEvent[],
  lowBelow: number,
): { alerts: BalanceAlert[][]; state: BalanceAlertState } {
  let state = NO_BALANCE;
  const alerts: BalanceAlert[][] = [];
  for (const event of events) {
    const next = evolveBalanceAlerts(state, event, lowBelow);
    alerts.push(next.alerts);
    state = next.state;
  }
  return { alerts, state };
}

describe('balance alerts, decided from the events in order', () => {
  beforeEach(() => (version = 0));

  it('sends credits.low once when spendable falls below the threshold, and again only after it rose back to it', () => {
    const { alerts } = play([bonus(100), consumed(60), consumed(10), bonus(100), consumed(100), consumed(5)], 50);
    expect(alerts).toEqual([[], ['credits.low'], [], [], ['credits.low'], []]);
  });

  it('sends credits.depleted at zero, once, then again only after credits came back', () => {
    const { alerts, state } = play([bonus(5), consumed(5), bonus(1), consumed(1)], 0);
    expect(alerts).toEqual([[], ['credits.depleted'], [], ['credits.depleted']]);
    expect(spendableOf(state)).toBe(0);
  });

  it('sends both when one event crosses both', () => {
    expect(play([bonus(100), consumed(100)], 10).alerts).toEqual([[], ['credits.low', 'credits.depleted']]);
  });

  it('counts held credits out of what is spendable: a hold can cross, its release re-arms', () => {
    const { alerts } = play([bonus(100), held(80), released(80), held(95)], 50);
    expect(alerts).toEqual([[], ['credits.low'], [], ['credits.low']]);
  });

  it('sends nothing for a user who never had credits, and nothing for an event applied already', () => {
    const first = bonus(10);
    const { state } = play([first], 50);
    expect(state.belowLow).toBe(true);
    expect(evolveBalanceAlerts(state, first, 50)).toEqual({ state, alerts: [] });
  });
});
