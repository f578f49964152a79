import { KurrentDbEventStore } from '../../libs/event-store/src/kurrentdb/kurrentdb-event-store';
import { KurrentDbModel } from '../../libs/event-store/src/kurrentdb/testing/kurrentdb-model';
import { eventStoreContract } from './event-store.contract';

/**
 * The contract against the KurrentDB adapter over an in-memory model of the
 * server's documented behaviour (positions above 2^53, system events in $all,
 * inclusive reads from a position, the duplicate check of retried appends).
 * It checks the adapter's shell where no server can run; it is no substitute
 * for event-store.contract.kurrentdb.int.spec.ts against a real KurrentDB.
 */
eventStoreContract(
  'kurrentdb adapter over an in-memory model of the server',
  () => {
    const store = new KurrentDbEventStore(new KurrentDbModel());
    return Promise.resolve({ store, close: () => store.close() });
  },
  { eventIds: 'retried-append', commitOrder: 'log' },
);
