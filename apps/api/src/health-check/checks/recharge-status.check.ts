import type { SqlExecutor } from '@libs/event-store';
import type { UnmatchedPayment } from '@libs/stripe';
import { rechargesProjection } from '@projections';
import type { SectionBuilder } from '../health-report';

export type RechargeStatusOptions = {
  /** A dispute open, or a delivery not settled, for longer than this is a finding. */
  nonFinalAgeSecondsMax: number;
  now: Date;
};

const { recharges } = rechargesProjection.tables;

/**
 * Check 3: what is still in flight. Every open dispute is listed with its age
 * (a warning: Stripe decides, but someone should answer it), as is every
 * parked payment (money received that credits no one yet). A Stripe delivery
 * left `received` (a crash between its steps) or `failed` beyond the age
 * limit may be a payment never credited: that fails. Grant expiries still
 * due are judged on the streams themselves, in the replay's pass
 * (replay.check.ts): a grant past its expiry by more than `--expiry-grace`
 * with credits left and no `CreditsExpired` fails (`grant-expiry-overdue`);
 * one within it is counted (`grant-expiries-due`).
 */
export async function checkRechargeStatus(
  dependencies: { readModel: SqlExecutor; parkedPayments: () => Promise<UnmatchedPayment[]> },
  options: RechargeStatusOptions,
  section: SectionBuilder,
): Promise<void> {
  const now = options.now.getTime();
  const ageOf = (time: Date | string) => Math.max(0, Math.round((now - new Date(time).getTime()) / 1000));
  const disputes = await dependencies.readModel.query<{
    user_id: string;
    recharge_id: string;
    dispute_id: string | null;
    disputed_at: Date | string;
  }>(
    // Aged from the opening (a later refund of the recharge changes its row, not the dispute's age).
    `select user_id, recharge_id, dispute_id, coalesce(disputed_at, updated_at) as disputed_at from ${recharges}
     where status = 'disputed' order by 4`,
  );
  for (const dispute of disputes) {
    const ageSeconds = ageOf(dispute.disputed_at);
    section.add({
      kind: ageSeconds > options.nonFinalAgeSecondsMax ? 'dispute-open-too-long' : 'dispute-open',
      severity: 'warning',
      userId: dispute.user_id,
      rechargeId: dispute.recharge_id,
      ageSeconds,
      detail: `recharge ${dispute.recharge_id} disputed (${dispute.dispute_id ?? 'no dispute id'}) for ${ageSeconds} s`,
    });
  }
  for (const parked of await dependencies.parkedPayments()) {
    const ageSeconds = ageOf(parked.parkedAt);
    section.add({
      kind: 'payment-parked',
      severity: 'warning',
      paymentId: parked.paymentId,
      ageSeconds,
      detail: `payment ${parked.paymentId} parked for ${ageSeconds} s: ${parked.reason}`,
    });
  }
  await checkUnsettledDeliveries(dependencies.readModel, options, section, ageOf);
}

async function checkUnsettledDeliveries(
  readModel: SqlExecutor,
  options: RechargeStatusOptions,
  section: SectionBuilder,
  ageOf: (time: Date | string) => number,
): Promise<void> {
  const oldest = new Date(options.now.getTime() - options.nonFinalAgeSecondsMax * 1000);
  const unsettled = await readModel.query<{
    event_id: string;
    event_type: string;
    status: string;
    reason: string | null;
    first_received_at: Date | string;
  }>(
    `select event_id, event_type, status, reason, first_received_at from stripe_deliveries
     where status in ('received', 'failed') and first_received_at < $1 order by first_received_at limit 1000`,
    [oldest.toISOString()],
  );
  for (const delivery of unsettled) {
    const ageSeconds = ageOf(delivery.first_received_at);
    section.add({
      kind: delivery.status === 'received' ? 'delivery-unfinished' : 'delivery-failed',
      severity: 'failed',
      stripeEventId: delivery.event_id,
      ageSeconds,
      detail:
        `${delivery.event_type} ${delivery.event_id} ${delivery.status} for ${ageSeconds} s` +
        (delivery.reason === null ? '' : `: ${delivery.reason}`) +
        ' (reprocess it: POST /v1/admin/stripe/events/{id}/reprocess)',
    });
  }
}
