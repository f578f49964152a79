import { webhookDataOf, webhookTypeOf } from '@libs/webhooks';
import type { SqlExecutor } from '@libs/event-store';
import type { ProjectedEvent, Projection } from '../runtime/projection';
import { CREATE_WEBHOOK_TABLES, WEBHOOK_DELIVERIES_TABLE, WEBHOOK_ENDPOINTS_TABLE } from './webhooks.tables';

export const WEBHOOK_OUTBOX = 'webhook-outbox';

/**
 * Follows the feed as a projection does and queues a delivery of each event with a webhook type for every
 * enabled endpoint subscribed to that type, in the transaction that moves its checkpoint: each event is queued
 * once per endpoint, whatever the crashes, and none is skipped. An endpoint sees the events recorded after it
 * was registered (or enabled again). Not rebuildable: a rebuild would send the whole history again, so it is
 * kept out of `PROJECTIONS` (the rebuild, repair and replay's list) and only run by the projector.
 */
export const webhookOutbox: Projection<'webhook_deliveries'> = {
  name: WEBHOOK_OUTBOX,
  tables: { webhook_deliveries: WEBHOOK_DELIVERIES_TABLE },
  createTables: () => CREATE_WEBHOOK_TABLES,
  async apply(tx: SqlExecutor, events: readonly ProjectedEvent[]) {
    const queued = events.flatMap((event) => {
      const type = webhookTypeOf(event);
      if (type === undefined) return [];
      return [
        {
          event_type: type,
          user_id: event.userId,
          stream_version: event.streamVersion,
          global_position: event.globalPosition,
          ledger_event_id: event.id,
          data: webhookDataOf(event),
        },
      ];
    });
    if (queued.length === 0) return;
    await tx.query(
      `insert into ${WEBHOOK_DELIVERIES_TABLE}
         (endpoint_id, event_type, user_id, stream_version, global_position, ledger_event_id, data)
       select endpoint.id, queued.event_type, queued.user_id, queued.stream_version, queued.global_position,
         queued.ledger_event_id, queued.data
       from jsonb_to_recordset($1::jsonb) as queued(event_type text, user_id text, stream_version int,
         global_position bigint, ledger_event_id uuid, data jsonb)
       join ${WEBHOOK_ENDPOINTS_TABLE} endpoint
         on endpoint.status = 'enabled' and queued.event_type = any(endpoint.events)
       order by queued.global_position, endpoint.id
       on conflict (endpoint_id, ledger_event_id, event_type) do nothing`,
      [JSON.stringify(queued)],
    );
  },
  async deleteRowsOf() {
    // A repair rebuilds a user's read model; what was sent to endpoints stays sent.
  },
};
