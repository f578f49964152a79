import { WEBHOOK_EVENT_TYPES, WEBHOOK_SIGNATURE_HEADER } from '@libs/webhooks';

/** What OpenAPI says of outbound webhooks beside their routes: the payload every endpoint receives, and its signature. */
export const OUTBOUND_WEBHOOKS_DESCRIPTION = [
  'Outbound webhooks: endpoints an operator registers receive a signed POST per event of the types they chose:',
  `${WEBHOOK_EVENT_TYPES.join(', ')}.`,
  'Body (JSON, the same bytes on every retry): { id (the delivery, kept across retries: deduplicate by it), type,',
  "createdAt, userId (null for payment.parked), data }. data holds the ledger event's fields and data.ledgerEvent",
  '{ id, type, position, streamVersion, occurredAt } (absent from grant.expiring); credits.low and credits.depleted',
  'carry spendableCredits, balance, frozenCredits, heldCredits and lowBalanceBelow; topup.succeeded carries topUpId,',
  'paymentIntentId and status, topup.failed topUpId, reason (card_declined, authentication_required, …) and message.',
  `Signature: header ${WEBHOOK_SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed by`,
  'the endpoint secret> (one v1 per secret during a rotation). Verify the raw body, refuse a t older than 5 minutes.',
  "Delivered at least once, each user's in stream order; any 2xx delivers, anything else is retried with backoff.",
].join(' ');
