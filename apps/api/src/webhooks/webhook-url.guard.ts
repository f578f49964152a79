import { ProblemException } from '@libs/http';
import { OutboundAddressRefusedError, refusalOfUrl, resolveAllowed } from '@libs/webhooks';

/**
 * An endpoint's URL as registered: it parses, its scheme and any literal address are allowed, and its name
 * resolves, to allowed addresses only. Checked again at every delivery (a name may change what it resolves to).
 */
export async function assertRegistrableUrl(value: string, allowPrivate: boolean): Promise<void> {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw refused(value, 'is not an absolute URL');
  }
  const refusal = refusalOfUrl(url, { allowPrivate });
  if (refusal !== undefined) throw refused(value, refusal);
  try {
    await resolveAllowed(url.hostname, { allowPrivate });
  } catch (error) {
    if (error instanceof OutboundAddressRefusedError) throw refused(value, error.message);
    throw refused(value, `does not resolve (${(error as Error).message})`);
  }
}

function refused(url: string, reason: string): ProblemException {
  return ProblemException.of(422, 'webhook-url-refused', 'Webhook URL refused', { detail: `${url}: ${reason}` });
}
