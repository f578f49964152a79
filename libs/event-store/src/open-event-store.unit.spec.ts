import { KurrentDbEventStore } from './kurrentdb/kurrentdb-event-store';
import {
  type EventStoreLocation,
  NotSqlEventStoreError,
  describeEventStoreLocation,
  openEventStore,
  openReadModelDriver,
  openSqlDriver,
  openSqlEventStore,
  openStores,
} from './open-event-store';
import { PostgresDriver } from './postgres/postgres-driver';
import { SqlEventStore } from './sql/sql-event-store';

/** Neither client connects before its first call: nothing here needs a server. */
describe('opening the store of EVENTSTORE_URL', () => {
  const kurrentdb: EventStoreLocation = {
    kind: 'kurrentdb',
    connectionString: 'kurrentdb://localhost:2113?tls=false',
    readModel: { connectionString: 'postgres://localhost/credits', poolSize: 2 },
  };

  it('opens the KurrentDB adapter', async () => {
    const store = await openEventStore(kurrentdb);
    expect(store).toBeInstanceOf(KurrentDbEventStore);
    await store.close();
  });

  it('opens the read model in the PostgreSQL of DATABASE_URL', async () => {
    const driver = await openReadModelDriver(kurrentdb);
    expect(driver).toBeInstanceOf(PostgresDriver);
    await driver.close();
  });

  it('refuses to open it as an SQL store, naming what opens it', async () => {
    await expect(openSqlEventStore(kurrentdb)).rejects.toThrow(NotSqlEventStoreError);
    await expect(openSqlDriver(kurrentdb)).rejects.toThrow(/open it with openStores/);
  });

  it('opens one in-memory PGlite for the events and the read model', async () => {
    const opened = await openStores({ kind: 'pglite', dataDir: undefined }, []);
    expect(opened.store).toBeInstanceOf(SqlEventStore);
    expect((opened.store as SqlEventStore).isOn(opened.readModel)).toBe(true);
    await opened.close();
  });

  it('says where the events are without the connection string', () => {
    expect(describeEventStoreLocation(kurrentdb)).toBe('KurrentDB (read model in PostgreSQL)');
    expect(describeEventStoreLocation({ kind: 'pglite', dataDir: '/data/pglite' })).toBe('PGlite in /data/pglite');
  });
});
