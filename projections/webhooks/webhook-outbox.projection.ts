import {
  type BalanceAlertState,
  NO_BALANCE,
  evolveBalanceAlerts,
  parkedPaymentOf,
  spendableOf,
  webhookDataOf,
  webhookTypeOf,
} from '@libs/webhooks';
import type { RecordedEvent, SqlExecutor } from '@libs/event-store';
import { type ProjectedEvent, type Projection, isNextEvent } from '../runtime/projection';
import {
  type TopUpThreshold,
  disarmTopUpThresholds,
  enabledTopUpThresholds,
} from '../top-ups/auto-top-up-settings.repository';
import { type QueuedCrossing, queueCrossings } from '../top-ups/top-up-crossings.repository';
import {
  BALANCE_ALERT_SETTINGS_TABLE,
  BALANCE_ALERT_STATES_TABLE,
  CREATE_WEBHOOK_TABLES,
  INDEX_DUE_WEBHOOK_DELIVERIES,
  PARKED_PAYMENTS_QUEUE,
  WEBHOOK_DELIVERIES_TABLE,
  WEBHOOK_ENDPOINTS_TABLE,
} from './webhooks.tables';

export const WEBHOOK_OUTBOX = 'webhook-outbox';

export type BalanceAlertsConfig = { lowBalanceBelowDefault: number };

/** One delivery to queue for every subscribed endpoint; a user's deliveries go in stream and event order. */
type Queued = {
  /** Its place among the deliveries of the same ledger event. */
  event_order: number;
  event_type: string;
  user_id: string;
  stream_version: number;
  global_position: string;
  ledger_event_id: string;
  data: unknown;
};

/**
 * Follows the feed as a projection does and queues a delivery of each event with a webhook type, and of each
 * balance alert an event causes, for every enabled endpoint subscribed to that type, in the transaction that
 * moves its checkpoint: each is queued once per endpoint, whatever the crashes, and none is skipped. Alerts are
 * decided from each user's events in order (`evolveBalanceAlerts`), on a state kept in the same transaction. An
 * endpoint sees what is recorded while it is enabled. It queues automatic top-ups' crossings the same way
 * (`top_up_crossings`), for the top-up process. Not rebuildable: a rebuild would send the whole history
 * again, so it is kept out of `PROJECTIONS` (the rebuild, repair and replay's list) and only run by the projector.
 */
export function webhookOutboxOf(config: BalanceAlertsConfig): Projection<'webhook_deliveries'> {
  return {
    name: WEBHOOK_OUTBOX,
    tables: { webhook_deliveries: WEBHOOK_DELIVERIES_TABLE },
    createTables: () => `${CREATE_WEBHOOK_TABLES}\n${INDEX_DUE_WEBHOOK_DELIVERIES}`,
    async apply(tx: SqlExecutor, events: readonly ProjectedEvent[]) {
      const states = await alertStatesOf(tx, events);
      const thresholds = await thresholdsOf(tx, events);
      const topUpThresholds = await enabledTopUpThresholds(tx, usersOf(events));
      const changed = new Set<string>();
      const queued: Queued[] = [];
      const crossings: QueuedCrossing[] = [];
      const armedUsed: Array<{ userId: string; version: number }> = [];
      const queue = (event: ProjectedEvent, type: string, data: unknown, eventOrder: number) =>
        queued.push({
          event_order: eventOrder,
          event_type: type,
          user_id: event.userId,
          stream_version: event.streamVersion,
          global_position: event.globalPosition,
          ledger_event_id: event.id,
          data,
        });
      for (const event of events) {
        const before = states.get(event.userId) ?? NO_BALANCE;
        if (!isNextEvent(WEBHOOK_OUTBOX, before.version, event)) continue;
        const type = webhookTypeOf(event);
        if (type !== undefined) queue(event, type, webhookDataOf(event), 0);
        const lowBelow = thresholds.get(event.userId) ?? config.lowBalanceBelowDefault;
        const { state, alerts } = evolveBalanceAlerts(before, event, lowBelow);
        alerts.forEach((alert, index) => queue(event, alert, alertData(state, lowBelow, event), index + 1));
        const threshold = topUpThresholds.get(event.userId);
        const crossing = topUpCrossing(before, state, threshold, event);
        if (crossing !== undefined) crossings.push(crossing);
        if (threshold?.armedVersion !== undefined && !NEVER_CROSSING.includes(event.type)) {
          // The save is acted on with this event, crossing or not.
          armedUsed.push({ userId: event.userId, version: threshold.armedVersion });
          topUpThresholds.set(event.userId, { ...threshold, armedVersion: undefined });
        }
        states.set(event.userId, state);
        changed.add(event.userId);
      }
      await saveAlertStates(
        tx,
        [...changed].map((userId) => [userId, states.get(userId)!] as const),
      );
      if (queued.length > 0) await insertDeliveries(tx, queued);
      await queueCrossings(tx, crossings);
      await disarmTopUpThresholds(tx, armedUsed);
    },
    async applyOthers(tx: SqlExecutor, others: readonly RecordedEvent[]) {
      const queued: Queued[] = [];
      for (const event of others) {
        const parked = parkedPaymentOf(event);
        if (parked === undefined) continue;
        queued.push({
          event_order: 0,
          event_type: 'payment.parked',
          // Parked payments have no user: they go in the order of their own stream, as one user's would.
          user_id: PARKED_PAYMENTS_QUEUE,
          stream_version: parked.streamVersion,
          global_position: event.globalPosition,
          ledger_event_id: event.id,
          data: parked.data,
        });
      }
      if (queued.length > 0) await insertDeliveries(tx, queued);
    },
    async deleteRowsOf() {
      // A repair rebuilds a user's read model; what was sent to endpoints stays sent.
    },
  };
}

/**
 * Events no crossing comes of, and that leave a save of the settings armed: those that take credits back for a
 * refund or a dispute (the customer asked for their money, or disputes a payment: charging their card again for
 * it would be the last thing they want), and the top-ups' own, which move no credits.
 */
const NEVER_CROSSING: readonly string[] = [
  'RechargeRefunded',
  'CreditsFrozen',
  'TopUpRequested',
  'TopUpSucceeded',
  'TopUpFailed',
];

/**
 * A crossing of the user's top-up threshold: spendable was at it or above before the event, and is below it
 * after; or the settings were saved since the user's last event (armed) and spendable is below it after. Decided
 * from the events in order, as alerts are, so each crossing is queued once; another needs the balance back at
 * the threshold first (the top-up's own payment, usually), or a new save of the settings.
 */
function topUpCrossing(
  before: BalanceAlertState,
  after: BalanceAlertState,
  threshold: TopUpThreshold | undefined,
  event: ProjectedEvent,
): QueuedCrossing | undefined {
  if (threshold === undefined || NEVER_CROSSING.includes(event.type)) return undefined;
  const { belowCredits } = threshold;
  const spendable = spendableOf(after);
  const wasAbove = spendableOf(before) >= belowCredits || threshold.armedVersion !== undefined;
  if (!(wasAbove && spendable < belowCredits)) return undefined;
  return {
    crossingEventId: event.id,
    userId: event.userId,
    globalPosition: event.globalPosition,
    spendableCredits: spendable,
    belowCredits,
  };
}

/** An alert's `data`: the balance as the recorded events leave it, the threshold, and the event that crossed it. */
function alertData(state: BalanceAlertState, lowBelow: number, event: ProjectedEvent) {
  const { ledgerEvent } = webhookDataOf(event);
  return {
    spendableCredits: spendableOf(state),
    balance: state.balance,
    frozenCredits: state.frozenCredits,
    heldCredits: state.heldCredits,
    lowBalanceBelow: lowBelow,
    ledgerEvent,
  };
}

async function insertDeliveries(tx: SqlExecutor, queued: readonly Queued[]): Promise<void> {
  await tx.query(
    `insert into ${WEBHOOK_DELIVERIES_TABLE}
       (endpoint_id, event_type, user_id, stream_version, event_order, global_position, ledger_event_id, data,
        next_attempt_at)
     select endpoint.id, queued.event_type, queued.user_id, queued.stream_version, queued.event_order,
       queued.global_position, queued.ledger_event_id, queued.data,
       -- Behind a pending delivery of the same user waiting for its retry: not due before it.
       greatest(now(), (select max(pending.next_attempt_at) from ${WEBHOOK_DELIVERIES_TABLE} pending
         where pending.endpoint_id = endpoint.id and pending.user_id = queued.user_id and pending.status = 'pending'))
     from jsonb_to_recordset($1::jsonb) as queued(event_order int, event_type text, user_id text,
       stream_version int, global_position bigint, ledger_event_id uuid, data jsonb)
     join ${WEBHOOK_ENDPOINTS_TABLE} endpoint
       on endpoint.status = 'enabled' and queued.event_type = any(endpoint.events)
     on conflict (endpoint_id, ledger_event_id, event_type) do nothing`,
    [JSON.stringify(queued)],
  );
}

async function alertStatesOf(
  tx: SqlExecutor,
  events: readonly ProjectedEvent[],
): Promise<Map<string, BalanceAlertState>> {
  const rows = await tx.query<{
    user_id: string;
    version: number;
    balance: string;
    frozen_credits: string;
    held_credits: string;
    below_low: boolean;
    depleted: boolean;
  }>(
    `select user_id, version, balance::text as balance, frozen_credits::text as frozen_credits,
       held_credits::text as held_credits, below_low, depleted
     from ${BALANCE_ALERT_STATES_TABLE} where user_id = any($1::text[])`,
    [usersOf(events)],
  );
  return new Map(
    rows.map((row) => [
      row.user_id,
      {
        version: row.version,
        balance: Number(row.balance),
        frozenCredits: Number(row.frozen_credits),
        heldCredits: Number(row.held_credits),
        belowLow: row.below_low,
        depleted: row.depleted,
      },
    ]),
  );
}

async function thresholdsOf(tx: SqlExecutor, events: readonly ProjectedEvent[]): Promise<Map<string, number>> {
  const rows = await tx.query<{ user_id: string; low_balance_below: string }>(
    `select user_id, low_balance_below::text as low_balance_below from ${BALANCE_ALERT_SETTINGS_TABLE}
     where user_id = any($1::text[])`,
    [usersOf(events)],
  );
  return new Map(rows.map((row) => [row.user_id, Number(row.low_balance_below)]));
}

async function saveAlertStates(
  tx: SqlExecutor,
  states: ReadonlyArray<readonly [string, BalanceAlertState]>,
): Promise<void> {
  if (states.length === 0) return;
  const rows = states.map(([userId, state]) => ({
    user_id: userId,
    version: state.version,
    balance: state.balance,
    frozen_credits: state.frozenCredits,
    held_credits: state.heldCredits,
    below_low: state.belowLow,
    depleted: state.depleted,
  }));
  await tx.query(
    `insert into ${BALANCE_ALERT_STATES_TABLE}
       (user_id, version, balance, frozen_credits, held_credits, below_low, depleted)
     select * from jsonb_to_recordset($1::jsonb) as state(user_id text, version int, balance bigint,
       frozen_credits bigint, held_credits bigint, below_low boolean, depleted boolean)
     on conflict (user_id) do update set version = excluded.version, balance = excluded.balance,
       frozen_credits = excluded.frozen_credits, held_credits = excluded.held_credits,
       below_low = excluded.below_low, depleted = excluded.depleted`,
    [JSON.stringify(rows)],
  );
}

const usersOf = (events: readonly ProjectedEvent[]) => [...new Set(events.map((event) => event.userId))];
