import * as net from 'node:net';

/**
 * What `cutAtNextCommits` looks for in the client's bytes, lower case. Any
 * occurrence matches, not only a statement: in the ledger's SQL that is the
 * `commit` of PostgresDriver.transaction (a simple Query message), and also
 * the index name `events_commit_order` of the first migration, and any
 * "commit" inside a parameter (an event's data, a reason) or a SQL comment.
 * `END`, a synonym of COMMIT, is not matched.
 */
const COMMIT = 'commit';
/** Bytes of a chunk kept to find a COMMIT split across two chunks: one fewer than the word, so no match is seen twice. */
const TAIL_BYTES = COMMIT.length - 1;

/** When a chunk may be delivered: after its delay, and not during a stall. Shared by every pair of a proxy. */
class Timing {
  delayMs = 0;
  stalledUntilMs = 0;

  async waitUntilDeliverable(dueAtMs: number): Promise<void> {
    for (;;) {
      const waitMs = Math.max(dueAtMs, this.stalledUntilMs) - Date.now();
      if (waitMs <= 0) return;
      await sleep(waitMs);
    }
  }
}

type Chunk = { bytes: Buffer; dueAtMs: number; cutAfter: boolean } | { end: true; dueAtMs: number };

/** One direction of a pair: delivers its chunks in the order they came, each when `Timing` allows. */
class Lane {
  private readonly queue: Chunk[] = [];
  private pumping = false;

  constructor(
    private readonly timing: Timing,
    private readonly deliver: (chunk: Chunk) => void,
  ) {}

  push(chunk: Chunk): void {
    this.queue.push(chunk);
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      for (let chunk = this.queue.shift(); chunk; chunk = this.queue.shift()) {
        await this.timing.waitUntilDeliverable(chunk.dueAtMs);
        this.deliver(chunk);
      }
    } finally {
      this.pumping = false;
    }
  }
}

/** A client connection and its connection to the target, relayed both ways. */
class Pair {
  /** Destroyed by the proxy, or on a socket error: nothing more is relayed. */
  closed = false;
  /** A COMMIT went to the server and the pair is being cut: nothing more is relayed either way. */
  severing = false;
  /** The last bytes the client sent, to find a COMMIT split across two chunks. */
  tail = Buffer.alloc(0);
  readonly up: Lane;
  readonly down: Lane;

  constructor(
    readonly client: net.Socket,
    readonly server: net.Socket,
    timing: Timing,
    onCommitCut: () => void,
  ) {
    this.up = new Lane(timing, (chunk) => this.toServer(chunk, onCommitCut));
    this.down = new Lane(timing, (chunk) => this.relay(chunk, this.client));
  }

  destroy(): boolean {
    if (this.closed) return false;
    this.closed = true;
    this.client.destroy();
    this.server.destroy();
    return true;
  }

  private toServer(chunk: Chunk, onCommitCut: () => void): void {
    if (!('bytes' in chunk) || !chunk.cutAfter) return this.relay(chunk, this.server);
    if (this.closed || this.severing) return;
    this.severing = true;
    this.server.write(chunk.bytes, () => {
      this.destroy();
      onCommitCut();
    });
  }

  private relay(chunk: Chunk, to: net.Socket): void {
    if (this.closed || this.severing) return;
    if ('bytes' in chunk) to.write(chunk.bytes);
    else to.end();
  }
}

/**
 * A TCP proxy the simulation puts between the ledger's processes and
 * PostgreSQL, to inject network faults: cut connections (all, some, or right
 * after a COMMIT went through), add latency, or stall all traffic for a while.
 */
export class FaultyTcpProxy {
  private readonly pairs = new Set<Pair>();
  private readonly timing = new Timing();
  private readonly listener = net.createServer((client) => this.accept(client));
  private commitCutsArmed = 0;
  private commitCutsDone = 0;

  /** The proxy relays to `target`, typically a PostgreSQL server. */
  constructor(private readonly target: { host: string; port: number }) {
    this.listener.on('error', () => undefined);
  }

  /** Listens on 127.0.0.1, port 0; returns the port, for the URLs handed to the ledger. */
  start(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(0, '127.0.0.1', () => {
        this.listener.off('error', reject);
        resolve(this.port);
      });
    });
  }

  /** The port it listens on (0 before `start`). */
  get port(): number {
    const address = this.listener.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  /** Open client connections now: how many a cut would reach. */
  get connections(): number {
    let open = 0;
    for (const pair of this.pairs) if (!pair.closed && !pair.client.destroyed) open += 1;
    return open;
  }

  /** Destroys every open connection pair (both sockets): clients see their connection cut. Returns how many. */
  cutAll(): number {
    return this.cutSome(() => 0, 1);
  }

  /** Destroys each open pair with probability `fraction` using `random()` ∈ [0,1), so a seeded run cuts the same ones. Returns how many. */
  cutSome(random: () => number, fraction: number): number {
    let cut = 0;
    for (const pair of [...this.pairs]) {
      if (pair.closed || pair.client.destroyed) continue;
      if (random() < fraction && pair.destroy()) cut += 1;
    }
    return cut;
  }

  /**
   * Arms a cut around COMMIT: the next `count` times a client sends bytes
   * containing "COMMIT" (case-insensitive, ASCII, e.g. a simple Query 'Q'
   * message "COMMIT" or an extended-protocol Parse of it), the bytes ARE
   * forwarded to the server, and then both sockets of that pair are destroyed
   * before any byte of the server's answer reaches the client: the client
   * never learns whether it committed. Returns nothing; `commitCuts` counts
   * those done.
   */
  cutAtNextCommits(count: number): void {
    this.commitCutsArmed += count;
  }

  /** How many cuts at a COMMIT were done. */
  get commitCuts(): number {
    return this.commitCutsDone;
  }

  /** Adds `ms` latency to every chunk in both directions (0 = none), preserving order per direction: a slow network. */
  setDelay(ms: number): void {
    this.timing.delayMs = Math.max(0, ms);
  }

  /**
   * Holds all traffic in both directions for `ms` (buffering it, order kept),
   * then lets it flow: a network that hangs, then recovers. New connections
   * during a stall are accepted but their bytes are held too.
   */
  async stall(ms: number): Promise<void> {
    const untilMs = Date.now() + ms;
    this.timing.stalledUntilMs = Math.max(this.timing.stalledUntilMs, untilMs);
    await sleep(Math.max(0, untilMs - Date.now()));
  }

  /** Stops listening and destroys every pair: the end of a run. */
  stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      if (!this.listener.listening) return resolve();
      this.listener.close(() => resolve());
    });
    for (const pair of this.pairs) pair.destroy();
    return closed;
  }

  private accept(client: net.Socket): void {
    const server = net.connect(this.target);
    const pair = new Pair(client, server, this.timing, () => (this.commitCutsDone += 1));
    this.pairs.add(pair);
    for (const socket of [client, server]) {
      socket.setNoDelay(true);
      socket.on('error', () => pair.destroy());
    }
    client.on('data', (bytes: Buffer) => this.fromClient(pair, bytes));
    server.on('data', (bytes: Buffer) => pair.down.push(this.chunkOf(bytes, false)));
    client.on('end', () => pair.up.push({ end: true, dueAtMs: this.dueAtMs() }));
    server.on('end', () => pair.down.push({ end: true, dueAtMs: this.dueAtMs() }));
    client.on('close', () => this.forgetWhenClosed(pair));
    server.on('close', () => this.forgetWhenClosed(pair));
  }

  private fromClient(pair: Pair, bytes: Buffer): void {
    const cutAfter = this.commitCutsArmed > 0 && containsCommit(pair.tail, bytes);
    pair.tail = Buffer.concat([pair.tail, bytes]).subarray(-TAIL_BYTES);
    if (cutAfter) this.commitCutsArmed -= 1;
    pair.up.push(this.chunkOf(bytes, cutAfter));
  }

  private chunkOf(bytes: Buffer, cutAfter: boolean): Chunk {
    return { bytes, dueAtMs: this.dueAtMs(), cutAfter };
  }

  private dueAtMs(): number {
    return Date.now() + this.timing.delayMs;
  }

  /** A pair is forgotten once both its sockets closed; one that closed alone ends the other through its lane. */
  private forgetWhenClosed(pair: Pair): void {
    if (pair.client.destroyed && pair.server.destroyed) {
      pair.closed = true;
      this.pairs.delete(pair);
    }
  }
}

/** Whether "commit" (any case) is in `bytes`, or straddles the end of the previous chunk and the start of this one. */
function containsCommit(tail: Buffer, bytes: Buffer): boolean {
  return Buffer.concat([tail, bytes]).toString('latin1').toLowerCase().includes(COMMIT);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
