import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsString, IsUrl, Length, MaxLength, Max, Min, ValidateIf } from 'class-validator';

/** How many packs one Checkout session may buy. */
export const CHECKOUT_QUANTITY_MAX = 100;
/** Stripe refuses longer redirect URLs. */
const REDIRECT_URL_LENGTH_MAX = 2048;
/** http for local development (localhost has no TLD), https otherwise; never javascript: or data:. */
const REDIRECT_URL_OPTIONS = { require_tld: false, protocols: ['http', 'https'], require_protocol: true };

export class CreateCheckoutSessionRequest {
  @ApiProperty({ description: 'A pack of the Stripe catalog (config/stripe-catalog.json)', example: 'credits_100' })
  @IsString()
  @Length(1, 64)
  packId!: string;

  @ApiProperty({
    description: 'Where Stripe sends the buyer after paying; may hold {CHECKOUT_SESSION_ID}',
    example: 'https://app.example.com/billing/done?session_id={CHECKOUT_SESSION_ID}',
  })
  @IsUrl(REDIRECT_URL_OPTIONS)
  @MaxLength(REDIRECT_URL_LENGTH_MAX)
  successUrl!: string;

  @ApiProperty({
    description: 'Where Stripe sends the buyer who goes back',
    example: 'https://app.example.com/billing',
  })
  @IsUrl(REDIRECT_URL_OPTIONS)
  @MaxLength(REDIRECT_URL_LENGTH_MAX)
  cancelUrl!: string;

  @ApiPropertyOptional({ description: `Packs bought, 1 to ${CHECKOUT_QUANTITY_MAX} (default 1)`, example: 1 })
  @ValidateIf((_, value) => value !== undefined)
  @IsInt()
  @Min(1)
  @Max(CHECKOUT_QUANTITY_MAX)
  quantity?: number;

  @ApiPropertyOptional({
    description:
      'Keep the card for later payments made without the buyer (automatic top-up): Stripe makes a customer and ' +
      'saves the payment method for off-session use. Default false',
    example: true,
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsBoolean()
  savePaymentMethod?: boolean;
}
