/**
 * One entry per stream (its first event), in byte order: `listStreams` pages
 * through the streams by an index scan, whatever the database's collation.
 */
export const indexStreamIds = {
  name: '0002-index-stream-ids',
  up: `create index if not exists events_stream_ids on events (stream_id collate "C") where stream_version = 1;`,
};
