import { Inject, Injectable } from '@nestjs/common';
import { EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import {
  ProjectionBehindError,
  invoiceOfPaymentIntent,
  READ_MODEL_DB,
  RECHARGES_PROJECTION,
  type RechargeRow,
  rechargeById,
  rechargeOfStripePayment,
  userOfStripeCustomer,
  waitForPosition,
} from '@projections';
import { READ_YOUR_WRITES_TIMEOUT_MS } from '../credits/read-your-writes';
import { ReadModelBehindError } from './retry-later.error';

/**
 * What the Stripe ingestion asks of the recharges projection: which recharge
 * a refund is about, which user a customer paid for. Stripe's events of one
 * payment can follow each other within moments, before the projection shows
 * the first: on a miss, wait (a bounded time) until the projection has applied
 * everything stored now, and ask once more. A projection that does not catch
 * up in time throws `ReadModelBehindError`: a miss then would park or fail a
 * payment that only needs a moment.
 */
@Injectable()
export class RechargesLookup {
  constructor(
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(READ_YOUR_WRITES_TIMEOUT_MS) private readonly waitTimeoutMs: number,
  ) {}

  /** By the payment intent or invoice; failing those, by the invoice `invoice_payment.paid` linked to the payment intent. */
  rechargeOfPayment(ids: { paymentIntentId: string | undefined; invoiceId: string | undefined }) {
    return this.lookUp(async () => {
      const recharge = await rechargeOfStripePayment(this.db, ids);
      if (recharge !== undefined || ids.paymentIntentId === undefined) return recharge;
      const invoiceId = await invoiceOfPaymentIntent(this.db, ids.paymentIntentId);
      return invoiceId === undefined ? undefined : rechargeById(this.db, invoiceId);
    });
  }

  rechargeById(rechargeId: string): Promise<RechargeRow | undefined> {
    return this.lookUp(() => rechargeById(this.db, rechargeId));
  }

  userOfCustomer(customerId: string): Promise<string | undefined> {
    return this.lookUp(() => userOfStripeCustomer(this.db, customerId));
  }

  private async lookUp<T>(query: () => Promise<T | undefined>): Promise<T | undefined> {
    return (await query()) ?? ((await this.projectionCaughtUp()) ? query() : undefined);
  }

  /** True once the projection shows everything stored now; a projection still behind is a reason to retry later. */
  private async projectionCaughtUp(): Promise<boolean> {
    const head = await this.store.headPosition();
    if (head === undefined) return false;
    try {
      await waitForPosition(this.db, this.store, RECHARGES_PROJECTION, head, this.waitTimeoutMs);
      return true;
    } catch (error) {
      if (!(error instanceof ProjectionBehindError)) throw error;
      throw new ReadModelBehindError(`the recharges read model is behind: ${error.message}`);
    }
  }
}
