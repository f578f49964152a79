import { Body, Controller, Get, Inject, Param, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProperty, ApiPropertyOptional, ApiResponse, ApiTags } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { AMOUNT_CREDITS_MAX } from '@libs/credits';
import type { SqlDriver } from '@libs/event-store';
import { ProblemException } from '@libs/http';
import { type StripeCatalog, packById } from '@libs/stripe';
import {
  type AutoTopUpSettings,
  READ_MODEL_DB,
  type TopUpCrossing,
  autoTopUpSettingsOf,
  crossingsOf,
  savedPaymentMethodOf,
  setAutoTopUpSettings,
  isStripeCustomerOf,
} from '@projections';
import { RequiresScope } from '../../auth/api-key.guard';
import { UserIdPipe } from '../../credits/credits.http';
import { STRIPE_CATALOG } from '../stripe-ingestion.service';

const STRIPE_ID_MAX_LENGTH = 255;

export class AutoTopUpRequest {
  @ApiProperty({ description: 'Off: no top-up is asked for; the other settings are kept' })
  @IsBoolean()
  enabled!: boolean;

  @ApiProperty({ example: 20, description: 'A top-up is asked for when spendable credits cross below this' })
  @IsInt()
  @Min(1)
  @Max(AMOUNT_CREDITS_MAX)
  belowCredits!: number;

  @ApiProperty({ example: 'credits_500', description: 'The catalog pack bought, one unit per top-up' })
  @IsString()
  @MaxLength(200)
  packId!: string;

  @ApiProperty({ example: 3, description: 'Top-ups asked for per UTC calendar month, failed ones included' })
  @IsInt()
  @Min(0)
  @Max(1_000)
  maxPerMonth!: number;

  @ApiPropertyOptional({
    example: 5000,
    description: "Amount charged per UTC calendar month, in the pack price's minor units; absent: no such limit",
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000_000_000)
  maxAmountPerMonth?: number;

  @ApiPropertyOptional({
    example: 'cus_NffrFeUfNV2Hib',
    description: 'Absent: the customer of the user’s last Checkout that saved a card',
  })
  @IsOptional()
  @IsString()
  @Matches(/^cus_[A-Za-z0-9]+$/, { message: 'stripeCustomerId must be a Stripe customer id (cus_…)' })
  @MaxLength(STRIPE_ID_MAX_LENGTH)
  stripeCustomerId?: string;

  @ApiPropertyOptional({
    example: 'pm_1MqLiJLkdIwHu7ixUEgbFdYF',
    description: 'Absent: the card the user’s last Checkout saved; set with stripeCustomerId',
  })
  @IsOptional()
  @IsString()
  @Matches(/^(pm|card|src)_[A-Za-z0-9_]+$/, { message: 'paymentMethodId must be a Stripe payment method id (pm_…)' })
  @MaxLength(STRIPE_ID_MAX_LENGTH)
  paymentMethodId?: string;
}

type AutoTopUpAnswer = {
  userId: string;
  /** Null until set. */
  settings: AutoTopUpSettings | null;
  /** The card a top-up would charge now, and where it comes from; null: none (a top-up would be skipped). */
  card: { customerId: string; paymentMethodId: string; source: 'settings' | 'checkout' } | null;
  /** The latest crossings below the threshold and what came of each, the latest first. */
  recentCrossings: TopUpCrossing[];
};

/** A user's automatic top-up: when spendable credits cross below a threshold, one pack on their saved card. */
@ApiTags('stripe')
@ApiBearerAuth()
@Controller('v1/users/:userId/auto-topup')
export class AutoTopUpHttpController {
  constructor(
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    @Inject(STRIPE_CATALOG) private readonly catalog: StripeCatalog,
  ) {}

  @Get()
  @RequiresScope('admin')
  @ApiOperation({ summary: 'The user’s automatic top-up, the card it charges, and its latest crossings' })
  async get(@Param('userId', UserIdPipe) userId: string): Promise<AutoTopUpAnswer> {
    return this.answer(userId);
  }

  @Put()
  @RequiresScope('admin')
  @ApiOperation({
    summary: 'Set the user’s automatic top-up; it applies from their next event on',
    description:
      'When the user’s spendable credits cross below `belowCredits`, one unit of `packId` is charged off session ' +
      'to the saved card, at most once per crossing, never while a top-up is pending, and within `maxPerMonth` ' +
      '(and `maxAmountPerMonth`). A declined card is not tried again: `topup.failed` is sent.',
  })
  @ApiResponse({ status: 404, description: 'unknown-pack' })
  @ApiResponse({ status: 422, description: 'invalid-auto-topup: a payment method without its customer' })
  @ApiResponse({ status: 422, description: 'stripe-customer-not-the-users: no payment of that customer is theirs' })
  async put(@Param('userId', UserIdPipe) userId: string, @Body() body: AutoTopUpRequest): Promise<AutoTopUpAnswer> {
    if (packById(this.catalog, body.packId) === undefined) {
      throw ProblemException.of(404, 'unknown-pack', 'Unknown pack', {
        detail: `the Stripe catalog has no pack "${body.packId}"`,
        packId: body.packId,
      });
    }
    if ((body.paymentMethodId === undefined) !== (body.stripeCustomerId === undefined)) {
      // A card belongs to a customer: one without the other would charge a card its customer does not hold.
      throw ProblemException.of(422, 'invalid-auto-topup', 'Invalid automatic top-up', {
        detail: 'stripeCustomerId and paymentMethodId are set together, or neither (the saved card is used)',
      });
    }
    if (body.stripeCustomerId !== undefined) await this.assertCustomerOf(userId, body.stripeCustomerId);
    await setAutoTopUpSettings(this.db, userId, {
      enabled: body.enabled,
      belowCredits: body.belowCredits,
      packId: body.packId,
      maxPerMonth: body.maxPerMonth,
      ...(body.maxAmountPerMonth === undefined ? {} : { maxAmountPerMonth: body.maxAmountPerMonth }),
      ...(body.stripeCustomerId === undefined ? {} : { stripeCustomerId: body.stripeCustomerId }),
      ...(body.paymentMethodId === undefined ? {} : { paymentMethodId: body.paymentMethodId }),
    });
    return this.answer(userId);
  }

  /**
   * A card is charged for the user only on a customer of theirs: one whose payments the ledger credits to them,
   * or whose card their Checkout saved. Another user's customer would charge that user's card, and tie their
   * customer to this user. (Stripe itself refuses a card not attached to the customer, at the charge.)
   */
  private async assertCustomerOf(userId: string, customerId: string): Promise<void> {
    const saved = await savedPaymentMethodOf(this.db, userId);
    if (saved?.customerId === customerId) return;
    if (await isStripeCustomerOf(this.db, customerId, userId)) return;
    throw ProblemException.of(422, 'stripe-customer-not-the-users', 'Not the user’s Stripe customer', {
      detail: `no payment of customer ${customerId} was credited to this user, and no Checkout of theirs saved its card`,
      stripeCustomerId: customerId,
    });
  }

  private async answer(userId: string): Promise<AutoTopUpAnswer> {
    const settings = await autoTopUpSettingsOf(this.db, userId);
    const saved = await savedPaymentMethodOf(this.db, userId);
    const card =
      settings?.paymentMethodId !== undefined && settings.stripeCustomerId !== undefined
        ? {
            customerId: settings.stripeCustomerId,
            paymentMethodId: settings.paymentMethodId,
            source: 'settings' as const,
          }
        : saved === undefined
          ? null
          : { customerId: saved.customerId, paymentMethodId: saved.paymentMethodId, source: 'checkout' as const };
    return { userId, settings: settings ?? null, card, recentCrossings: await crossingsOf(this.db, userId) };
  }
}
