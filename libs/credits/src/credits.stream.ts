import { USER_ID_PATTERN } from './credits.limits';

/** One stream per user: every credit movement of a user is ordered in it. */
export const CREDITS_STREAM_PREFIX = 'credits-';

export function creditsStreamId(userId: string): string {
  if (!USER_ID_PATTERN.test(userId)) {
    throw new RangeError(`invalid user id for a credits stream: ${JSON.stringify(userId)}`);
  }
  return `${CREDITS_STREAM_PREFIX}${userId}`;
}

export function userIdOfStream(streamId: string): string {
  if (!streamId.startsWith(CREDITS_STREAM_PREFIX)) {
    throw new RangeError(`not a credits stream: ${streamId}`);
  }
  return streamId.slice(CREDITS_STREAM_PREFIX.length);
}
