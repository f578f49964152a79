import { type DynamicModule, Module } from '@nestjs/common';
import type { PriceList } from '@libs/credits';
import { CompleteRechargeHandler } from './complete-recharge/complete-recharge.handler';
import { CompleteRechargeHttpController } from './complete-recharge/complete-recharge.http.controller';
import { RechargeClaims } from './complete-recharge/recharge-claims';
import { ConsumeCreditsHandler } from './consume-credits/consume-credits.handler';
import { ConsumeCreditsHttpController } from './consume-credits/consume-credits.http.controller';
import { COMMAND_RETRIES_MAX, CreditsCommandRunner } from './credits-command.runner';
import { CreditsMetrics } from './credits-metrics';
import { GetBalanceHandler } from './get-balance/get-balance.handler';
import { GetBalanceHttpController } from './get-balance/get-balance.http.controller';
import { GrantBonusHandler } from './grant-bonus/grant-bonus.handler';
import { GrantBonusHttpController } from './grant-bonus/grant-bonus.http.controller';
import { ListEventsHandler } from './list-events/list-events.handler';
import { ListEventsHttpController } from './list-events/list-events.http.controller';
import { PRICE_LIST } from './price-list.provider';
import { GetLedgerHandler } from './get-ledger/get-ledger.handler';
import { GetLedgerHttpController } from './get-ledger/get-ledger.http.controller';
import { ListRechargesHandler } from '../recharges/list-recharges/list-recharges.handler';
import { ListRechargesHttpController } from '../recharges/list-recharges/list-recharges.http.controller';
import { READ_YOUR_WRITES_TIMEOUT_MS, ReadYourWrites } from './read-your-writes';
import { ListGrantsHandler } from './list-grants/list-grants.handler';
import { ListGrantsHttpController } from './list-grants/list-grants.http.controller';
import { VoidGrantHandler } from './void-grant/void-grant.handler';
import { HOLD_EXPIRES_IN_MAX_SECONDS, HoldsHttpController } from './holds/holds.http.controller';
import { EndHoldHandler, PlaceHoldHandler } from './holds/hold-commands.handlers';
import { ListHoldsHandler } from './holds/list-holds.handler';
import { PreviewHandler } from './holds/preview.handler';
import { VoidGrantHttpController } from './void-grant/void-grant.http.controller';

export type CreditsModuleOptions = {
  priceList: PriceList;
  commandRetriesMax: number;
  readYourWritesTimeoutMs: number;
  holdExpiresInMaxSeconds: number;
};

@Module({})
export class CreditsModule {
  static forRoot(options: CreditsModuleOptions): DynamicModule {
    return {
      module: CreditsModule,
      // The Stripe ingestion runs refunds and disputes through the same runner, and waits for projections as queries do.
      global: true,
      controllers: [
        ConsumeCreditsHttpController,
        GrantBonusHttpController,
        CompleteRechargeHttpController,
        GetBalanceHttpController,
        ListEventsHttpController,
        GetLedgerHttpController,
        ListRechargesHttpController,
        VoidGrantHttpController,
        ListGrantsHttpController,
        HoldsHttpController,
      ],
      providers: [
        { provide: PRICE_LIST, useValue: options.priceList },
        { provide: COMMAND_RETRIES_MAX, useValue: options.commandRetriesMax },
        CreditsMetrics,
        CreditsCommandRunner,
        ConsumeCreditsHandler,
        GrantBonusHandler,
        CompleteRechargeHandler,
        RechargeClaims,
        GetBalanceHandler,
        ListEventsHandler,
        GetLedgerHandler,
        ListRechargesHandler,
        VoidGrantHandler,
        ListGrantsHandler,
        PlaceHoldHandler,
        EndHoldHandler,
        ListHoldsHandler,
        PreviewHandler,
        { provide: HOLD_EXPIRES_IN_MAX_SECONDS, useValue: options.holdExpiresInMaxSeconds },
        ReadYourWrites,
        { provide: READ_YOUR_WRITES_TIMEOUT_MS, useValue: options.readYourWritesTimeoutMs },
      ],
      exports: [CreditsCommandRunner, READ_YOUR_WRITES_TIMEOUT_MS],
    };
  }
}
