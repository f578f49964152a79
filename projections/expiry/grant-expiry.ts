import {
  type CreditsCommand,
  type CreditsEvent,
  type CreditsState,
  creditsStreamId,
  decide,
  evolve,
  grantClosedIdempotencyKey,
  holdEndedIdempotencyKey,
  initialState,
  parseCreditsEvent,
} from '@libs/credits';
import { DuplicateEventIdError, type EventStore, type SqlExecutor, VersionConflictError } from '@libs/event-store';

/** Grants expired per pass: a pass takes the soonest due first, and the next pass goes on. */
export const EXPIRY_BATCH_SIZE = 200;
/** Attempts per user when other writers keep appending to the stream between its read and its append. */
const CONFLICT_RETRIES_MAX = 10;

/**
 * What a pass did: grants it expired, found expired already or could not close, holds past their expiry it
 * released (`holdsExpired`), and users it could not write.
 */
export type ExpiryPass = {
  expired: number;
  alreadyExpired: number;
  refused: number;
  holdsExpired?: number;
  usersSkipped?: number;
};
export type ExpiryLag = { dueGrants: number; lagSeconds: number };
export type HoldExpiryLag = { dueHolds: number; lagSeconds: number };

/**
 * The expiry process: records `CreditsExpired` for every grant past its
 * `expiresAt` with unspent credits. It finds them in the grants read model's
 * index of grants due, never by scanning streams, and decides each expiry on
 * the stream itself, keyed by the grant: however many processes run it, and
 * whenever one is killed, each grant expires once (a second attempt is a
 * replay, or its event id is refused by the store). A grant due while no
 * process runs expires at the next pass. Decisions never wait for it: a
 * grant past its expiry is never spent, recorded or not.
 *
 * It releases holds past their `expiresAt` the same way (`HoldExpired`, keyed
 * by the hold, which a capture or a release shares: a hold ends once), found
 * in the holds read model's index of active holds by expiry. No capture
 * succeeds past a hold's expiry, recorded or not.
 */
export class GrantExpiry {
  constructor(
    private readonly store: EventStore,
    private readonly readModel: SqlExecutor,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Expires the grants and holds due now, up to a batch of each; returns what it did. */
  async runOnce(batchSize = EXPIRY_BATCH_SIZE): Promise<ExpiryPass> {
    const now = this.now().toISOString();
    const dueGrants = await this.readModel.query<{ user_id: string; id: string }>(
      `select user_id, grant_id::text as id from grants
       where status = 'active' and remaining > 0 and frozen = 0 and (held = 0 or rollover is not null)
         and expires_at <= $1
       order by expires_at, user_id, sequence limit $2`,
      [now, batchSize],
    );
    const dueHolds = await this.readModel.query<{ user_id: string; id: string }>(
      `select user_id, hold_id::text as id from holds where status = 'active' and expires_at <= $1
       order by expires_at, user_id, sequence limit $2`,
      [now, batchSize],
    );
    const pass: ExpiryPass = { expired: 0, alreadyExpired: 0, refused: 0 };
    const grants = await this.expireEach(byUser(dueGrants), pass, (userId, grantId) => ({
      type: 'ExpireGrant',
      data: { userId, grantId },
      metadata: { idempotencyKey: grantClosedIdempotencyKey(grantId, 'expired'), now },
    }));
    const holds = await this.expireEach(byUser(dueHolds), pass, (userId, holdId) => ({
      type: 'ExpireHold',
      data: { userId, holdId },
      metadata: { idempotencyKey: holdEndedIdempotencyKey(holdId), now },
    }));
    Object.assign(pass, { expired: grants.expired, alreadyExpired: grants.alreadyExpired, refused: grants.refused });
    // Holds found ended already or not due are the read model behind: nothing to count but what was done.
    if (holds.expired > 0) pass.holdsExpired = holds.expired;
    return pass;
  }

  /** Each user's due expiries, decided and appended together; a user whose stream keeps moving is skipped. */
  private async expireEach(
    due: Map<string, string[]>,
    pass: ExpiryPass,
    commandOf: (userId: string, id: string) => CreditsCommand,
  ): Promise<ExpiryPass> {
    const done: ExpiryPass = { expired: 0, alreadyExpired: 0, refused: 0 };
    for (const [userId, ids] of due) {
      try {
        const decided = await this.expireFor(
          userId,
          ids.map((id) => commandOf(userId, id)),
        );
        done.expired += decided.expired;
        done.alreadyExpired += decided.alreadyExpired;
        done.refused += decided.refused;
      } catch (error) {
        // One user's stream (written without pause, or unreadable) must not hold back everyone else's expiries:
        // it is tried again at the next pass. Anything else (the store down) fails the whole pass.
        if (!(error instanceof VersionConflictError || error instanceof DuplicateEventIdError)) throw error;
        pass.usersSkipped = (pass.usersSkipped ?? 0) + 1;
      }
    }
    return done;
  }

  /** How many grants are due and not expired yet, and how long the oldest has waited (0 when none). */
  async lag(): Promise<ExpiryLag> {
    const [row] = await this.readModel.query<{ due: string; oldest: Date | string | null }>(
      `select count(*)::text as due, min(expires_at) as oldest from grants
       where status = 'active' and remaining > 0 and frozen = 0 and (held = 0 or rollover is not null)
         and expires_at <= $1`,
      [this.now().toISOString()],
    );
    const oldest = row.oldest === null ? undefined : new Date(row.oldest).getTime();
    return {
      dueGrants: Number(row.due),
      lagSeconds: oldest === undefined ? 0 : Math.max(0, (this.now().getTime() - oldest) / 1000),
    };
  }

  /** How many active holds are past their expiry, and how long the oldest has waited (0 when none). */
  async holdLag(): Promise<HoldExpiryLag> {
    const [row] = await this.readModel.query<{ due: string; oldest: Date | string | null }>(
      `select count(*)::text as due, min(expires_at) as oldest from holds where status = 'active' and expires_at <= $1`,
      [this.now().toISOString()],
    );
    const oldest = row.oldest === null ? undefined : new Date(row.oldest).getTime();
    return {
      dueHolds: Number(row.due),
      lagSeconds: oldest === undefined ? 0 : Math.max(0, (this.now().getTime() - oldest) / 1000),
    };
  }

  /** One user's due expiries, decided on their stream and appended at once; again on a version conflict. */
  private async expireFor(userId: string, commands: readonly CreditsCommand[]): Promise<ExpiryPass> {
    const streamId = creditsStreamId(userId);
    for (let attempt = 0; ; attempt++) {
      const state = await this.fold(streamId);
      const decided = decideExpiries(commands, state);
      if (decided.events.length === 0) return decided.pass;
      try {
        await this.store.appendToStream(streamId, decided.events.map(toEventToAppend), {
          expectedVersion: state.version,
        });
        return decided.pass;
      } catch (error) {
        // Another process expired one of them first (its event id is the same), or any writer appended since.
        const raced = error instanceof DuplicateEventIdError || error instanceof VersionConflictError;
        if (!raced || attempt >= CONFLICT_RETRIES_MAX) throw error;
      }
    }
  }

  private async fold(streamId: string): Promise<CreditsState> {
    let state = initialState();
    for await (const event of this.store.readStream(streamId)) state = evolve(state, parseCreditsEvent(event));
    return state;
  }
}

function byUser(due: ReadonlyArray<{ user_id: string; id: string }>): Map<string, string[]> {
  const ids = new Map<string, string[]>();
  for (const { user_id, id } of due) ids.set(user_id, [...(ids.get(user_id) ?? []), id]);
  return ids;
}

/** The expiries, each decided on the state the ones before it leave. */
function decideExpiries(
  commands: readonly CreditsCommand[],
  state: CreditsState,
): { events: CreditsEvent[]; pass: ExpiryPass } {
  const events: CreditsEvent[] = [];
  const pass: ExpiryPass = { expired: 0, alreadyExpired: 0, refused: 0 };
  let provisional = state;
  for (const command of commands) {
    const decision = decide(command, provisional);
    if (decision.kind === 'replayed') pass.alreadyExpired += 1;
    // A grant voided or frozen, or a hold captured or released, since the read model listed it: nothing to do.
    if (decision.kind === 'refused') pass.refused += 1;
    if (decision.kind !== 'recorded') continue;
    pass.expired += 1;
    for (const event of decision.events) {
      events.push(event);
      provisional = evolve(provisional, {
        ...event,
        streamVersion: provisional.version + 1,
        globalPosition: '',
      });
    }
  }
  return { events, pass };
}

function toEventToAppend(event: CreditsEvent) {
  return {
    id: event.id,
    type: event.type,
    schemaVersion: event.schemaVersion,
    data: event.data,
    metadata: event.metadata,
  };
}
