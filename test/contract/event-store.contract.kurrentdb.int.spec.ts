import { KurrentDbEventStore } from '../../libs/event-store/src/kurrentdb/kurrentdb-event-store';
import { describeOnKurrentDb, kurrentDbUrlUnderTest } from '../support/test-stores';
import { eventStoreContract } from './event-store.contract';

/**
 * The contract against a KurrentDB server (EVENTSTORE_URL). The server is
 * shared and `$all` is global: run it alone (`npm run test:kurrentdb` runs in
 * band), or a concurrent writer's events show up in the readAll checks.
 */
describeOnKurrentDb('KurrentDB event store', () => {
  eventStoreContract(
    'kurrentdb',
    async () => {
      const store = KurrentDbEventStore.connect(kurrentDbUrlUnderTest());
      await store.ping();
      return { store, close: () => store.close() };
    },
    { eventIds: 'retried-append', commitOrder: 'log' },
  );
});
