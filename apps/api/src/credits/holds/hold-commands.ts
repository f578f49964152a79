import { Command } from '@nestjs/cqrs';
import type { Causation, ClientMetadata } from '@libs/credits';
import type { CreditsCommandResult } from '../credits-command.runner';

/** Reserve a job's credits; the hold's id is the event's, derived from the key. */
export class PlaceHoldCommand extends Command<CreditsCommandResult> {
  constructor(
    readonly userId: string,
    readonly feature: string,
    readonly reference: string,
    /** Undefined: the price list's price. */
    readonly requestedAmount: number | undefined,
    /** ISO 8601 duration; undefined: the domain's default (15 minutes). */
    readonly expiresIn: string | undefined,
    readonly metadata: ClientMetadata,
    /** The client's Idempotency-Key; without one, the feature and reference: one hold per job. */
    clientKey: string = `${feature}:${reference}`,
    readonly causedBy: Causation = {},
  ) {
    super();
    this.idempotencyKey = `hold:${clientKey}`;
  }

  /** Namespaced per command, so a key chosen for one kind of command never blocks another. */
  readonly idempotencyKey: string;
}

/** Capture what a hold's job used (undefined: all of it), or release it all. Keyed by the hold: it ends once. */
export class EndHoldCommand extends Command<CreditsCommandResult> {
  constructor(
    readonly userId: string,
    readonly holdId: string,
    readonly how: { capture: number | undefined } | 'release',
    readonly causedBy: Causation = {},
  ) {
    super();
  }
}
