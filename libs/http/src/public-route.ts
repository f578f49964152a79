import { SetMetadata } from '@nestjs/common';

/** Metadata key an authentication guard reads: routes marked @Public need no API key. */
export const PUBLIC_ROUTE = 'credits:public-route';

/** Health, metrics and docs: open to probes and scrapers without a key. */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);
