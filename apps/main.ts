/**
 * `npm start`: runs the process that ROLE names. `all` (the default) and `api`
 * start the API (with the projector inside for `all`); `projector` starts the
 * projector alone. Each app stays independent: this file only chooses one.
 */
import { failStartup } from '@libs/config';
import { main as api } from './api/src/main';
import { main as projector } from './projector/src/main';

const role = process.env.ROLE ?? 'all';
const start = role === 'projector' ? projector : api;

start().catch(failStartup);
