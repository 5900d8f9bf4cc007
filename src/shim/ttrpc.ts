// ttrpc (github.com/containerd/ttrpc, as containerd 1.6 speaks it: v1.1) over AF_UNIX stream sockets.
// A frame is a 10-byte header — data length (uint32 BE), stream id (uint32 BE), type (1 request,
// 2 response, 3 data: streaming, unused here), flags — then a protobuf ttrpc.Request or ttrpc.Response.
// Data over 4 MiB is refused: a receiver discards it and the stream gets RESOURCE_EXHAUSTED.
// Unary calls only. node:net, so the same code runs under vitest (node) and in the Bun binary.
//
// API:
//   new TtrpcServer(); server.register(service, { Method: async (payload, ctx) => bytes }); await server.listen(path)
//   unary(reqDesc, respDesc, fn)   a method from a typed handler (decode/encode around fn)
//   await TtrpcClient.connect(path); await client.call(service, method, payload, { timeoutMs, metadata })
//   publishEvent(client, { namespace, event: Any, topic?, timestamp? })   containerd's events Forward
//   TtrpcError(code, message)      a non-OK status; Code: the gRPC status codes

import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import * as net from "node:net";
import { decode, encode, type MessageDesc, timestampFromDate, type Any } from "./protobuf.ts";
import { Envelope, EVENTS_FORWARD, EVENTS_SERVICE, ForwardRequest, type KeyValue, Request, Response } from "./messages.ts";

/** gRPC status codes (google.golang.org/grpc/codes). */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

export const MESSAGE_LENGTH_MAX = 4 << 20;
const HEADER_LENGTH = 10;
const TYPE_REQUEST = 1;
const TYPE_RESPONSE = 2;

/** A call's non-OK status (either side: a handler throws it, a client call rejects with it). */
export class TtrpcError extends Error {
  override name = "TtrpcError";
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** The connection is gone (Go ttrpc's ErrClosed): calls in flight and later calls reject with it. */
export class TtrpcClosedError extends Error {
  override name = "TtrpcClosedError";
  constructor(message = "ttrpc: closed") {
    super(message);
  }
}

function oversized(length: number): TtrpcError {
  // ttrpc's wording.
  return new TtrpcError(Code.RESOURCE_EXHAUSTED, `message length ${length} exceed maximum message size of ${MESSAGE_LENGTH_MAX}`);
}

function frame(streamId: number, type: number, data: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(HEADER_LENGTH + data.length);
  b.writeUInt32BE(data.length, 0);
  b.writeUInt32BE(streamId, 4);
  b[8] = type;
  b[9] = 0;
  b.set(data, HEADER_LENGTH);
  return b;
}

type FrameHandler = (f: { streamId: number; type: number; data: Uint8Array | null; length: number }) => void;

/** Splits a byte stream into frames. An oversized frame's data is skipped as it arrives (never
 *  buffered) and reported with data null. */
class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private skipping = 0;
  constructor(private readonly onFrame: FrameHandler) {}

  push(chunk: Buffer): void {
    if (this.skipping > 0) {
      const n = Math.min(this.skipping, chunk.length);
      this.skipping -= n;
      chunk = chunk.subarray(n);
      if (chunk.length === 0) return;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.buffered < HEADER_LENGTH) return;
      const head = this.peek(HEADER_LENGTH);
      const length = head.readUInt32BE(0);
      const streamId = head.readUInt32BE(4);
      const type = head[8]!;
      if (length > MESSAGE_LENGTH_MAX) {
        this.take(HEADER_LENGTH);
        const now = Math.min(length, this.buffered);
        this.take(now);
        this.skipping = length - now;
        this.onFrame({ streamId, type, data: null, length });
        if (this.skipping > 0) return;
        continue;
      }
      if (this.buffered < HEADER_LENGTH + length) return;
      this.take(HEADER_LENGTH);
      this.onFrame({ streamId, type, data: this.take(length), length });
    }
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    let out: Buffer;
    if (this.chunks[0]!.length >= n) out = this.chunks[0]!.subarray(0, n);
    else {
      const all = Buffer.concat(this.chunks);
      this.chunks = [all];
      out = all.subarray(0, n);
    }
    const first = this.chunks[0]!;
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Server

export interface CallContext {
  /** Request metadata, by key (ttrpc's MD: a key may repeat). containerd sends the namespace as
   *  "containerd-namespace-ttrpc". */
  metadata: Record<string, string[]>;
  /** The client's deadline in nanoseconds from when it sent the call; 0 for none. */
  timeoutNano: number;
  /** Aborted when the deadline passes or the connection closes (Go ttrpc cancels the context then). */
  signal: AbortSignal;
}

export type Method = (payload: Uint8Array, ctx: CallContext) => Promise<Uint8Array>;

/** A method from a typed handler: an undecodable request answers INTERNAL, as Go ttrpc's unmarshal does. */
export function unary<Req, Resp>(
  request: MessageDesc<Req>,
  response: MessageDesc<Resp>,
  fn: (req: Req, ctx: CallContext) => Promise<Partial<Resp>>,
): Method {
  return async (payload, ctx) => {
    let req: Req;
    try {
      req = decode(request, payload);
    } catch (e) {
      throw new TtrpcError(Code.INTERNAL, `ttrpc: error unmarshalling payload: ${(e as Error).message}`);
    }
    return encode(response, await fn(req, ctx));
  };
}

export interface ServerOptions {
  /** The socket file's mode; containerd's shims chmod theirs 0600. */
  mode?: number;
}

export class TtrpcServer {
  private readonly services = new Map<string, Record<string, Method>>();
  private server: net.Server | null = null;
  private path: string | null = null;
  private readonly sockets = new Set<net.Socket>();
  private active = 0;
  /** Called with the number of connections left whenever one closes. */
  onConnectionClosed: ((remaining: number) => void) | null = null;
  /** Called when a connection is accepted. */
  onConnection: ((count: number) => void) | null = null;

  register(service: string, methods: Record<string, Method>): void {
    if (this.services.has(service)) throw new Error(`duplicate service ${service} registered`);
    this.services.set(service, methods);
  }

  get connections(): number {
    return this.sockets.size;
  }

  /** Calls being handled now, over all connections. */
  get inFlight(): number {
    return this.active;
  }

  /** Listens on a socket file (its directory made if missing; an existing file is an error, EADDRINUSE),
   *  or on an abstract socket if `path` starts with "\0". A "unix://" prefix is the caller's to strip. */
  async listen(path: string, opts: ServerOptions = {}): Promise<void> {
    if (this.server) throw new Error("ttrpc server already listening");
    const abstract = path.startsWith("\0");
    if (!abstract) mkdirSync(dirname(path), { recursive: true, mode: 0o711 });
    const server = net.createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
    if (abstract) return;
    this.path = path;
    try {
      chmodSync(path, opts.mode ?? 0o600);
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** Stops listening, removes the socket file and drops every connection (calls in flight get no answer). */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.path) {
      rmSync(this.path, { force: true });
      this.path = null;
    }
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    this.onConnection?.(this.sockets.size);
    const abort = new AbortController();
    let open = true;
    const send = (streamId: number, resp: Partial<Response>) => {
      if (!open) return;
      let bytes = encode(Response, resp);
      if (bytes.length > MESSAGE_LENGTH_MAX) {
        // Answer what the client would have made of it rather than dropping the connection.
        const e = oversized(bytes.length);
        bytes = encode(Response, { status: { code: e.code, message: e.message, details: [] } });
      }
      socket.write(frame(streamId, TYPE_RESPONSE, bytes));
    };
    const fail = (streamId: number, code: number, message: string) => send(streamId, { status: { code, message, details: [] } });
    const reader = new FrameReader(({ streamId, type, data, length }) => {
      if (data === null) {
        const e = oversized(length);
        return fail(streamId, e.code, e.message);
      }
      if (type !== TYPE_REQUEST) return; // data frames and unknown types: ignored, as ttrpc does
      let req: Request;
      try {
        req = decode(Request, data);
      } catch (e) {
        return fail(streamId, Code.INVALID_ARGUMENT, `unmarshal request error: ${(e as Error).message}`);
      }
      if (streamId % 2 !== 1) return fail(streamId, Code.INVALID_ARGUMENT, "StreamID must be odd for client initiated streams");
      this.active++;
      void this.dispatch(req, abort.signal).then((resp) => {
        this.active--;
        send(streamId, resp);
      });
    });
    socket.on("data", (chunk: Buffer) => reader.push(chunk));
    socket.on("error", () => {}); // a reset peer: "close" follows
    socket.on("close", () => {
      open = false;
      abort.abort();
      this.sockets.delete(socket);
      this.onConnectionClosed?.(this.sockets.size);
    });
  }

  private async dispatch(req: Request, connSignal: AbortSignal): Promise<Partial<Response>> {
    const methods = this.services.get(req.service);
    // ttrpc v1.1's wording for both.
    if (!methods) return { status: { code: Code.UNIMPLEMENTED, message: `service ${req.service}`, details: [] } };
    const method = Object.hasOwn(methods, req.method) ? methods[req.method] : undefined;
    if (!method) return { status: { code: Code.UNIMPLEMENTED, message: `method ${req.method}`, details: [] } };
    const metadata: Record<string, string[]> = {};
    for (const kv of req.metadata) (metadata[kv.key] ??= []).push(kv.value);
    const signals = [connSignal];
    if (req.timeout_nano > 0) signals.push(AbortSignal.timeout(Math.max(1, Math.ceil(req.timeout_nano / 1e6))));
    const signal = signals.length === 1 ? connSignal : AbortSignal.any(signals);
    try {
      const payload = await method(req.payload, { metadata, timeoutNano: req.timeout_nano, signal });
      return { status: { code: Code.OK, message: "", details: [] }, payload };
    } catch (e) {
      if (e instanceof TtrpcError) return { status: { code: e.code, message: e.message, details: [] } };
      return { status: { code: Code.UNKNOWN, message: e instanceof Error ? e.message : String(e), details: [] } };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Client

export interface CallOptions {
  /** Sent as the request's timeout_nano; the call also rejects with DEADLINE_EXCEEDED locally then. */
  timeoutMs?: number;
  /** Request metadata: a value or several per key. */
  metadata?: Record<string, string | string[]>;
}

interface Pending {
  resolve: (b: Uint8Array) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class TtrpcClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedError: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    const reader = new FrameReader(({ streamId, type, data, length }) => {
      const p = this.pending.get(streamId);
      if (!p) return; // timed out already, or not ours
      if (data === null) return this.settle(streamId, oversized(length));
      if (type !== TYPE_RESPONSE) return;
      let resp: Response;
      try {
        resp = decode(Response, data);
      } catch (e) {
        return this.settle(streamId, new TtrpcError(Code.INTERNAL, `ttrpc: failed to unmarshal response: ${(e as Error).message}`));
      }
      const st = resp.status;
      if (st && st.code !== Code.OK) this.settle(streamId, new TtrpcError(st.code, st.message));
      else this.settle(streamId, resp.payload);
    });
    socket.on("data", (chunk: Buffer) => reader.push(chunk));
    socket.on("error", () => {});
    socket.on("close", () => this.shut(new TtrpcClosedError()));
  }

  static connect(path: string): Promise<TtrpcClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(path);
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new TtrpcClient(socket));
      });
    });
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  /** Lets the process exit while this connection is open (an events publisher should not hold the shim up). */
  unref(): this {
    this.socket.unref();
    return this;
  }

  call(service: string, method: string, payload: Uint8Array, opts: CallOptions = {}): Promise<Uint8Array> {
    if (this.closedError) return Promise.reject(this.closedError);
    const metadata: KeyValue[] = [];
    for (const [key, v] of Object.entries(opts.metadata ?? {})) {
      for (const value of Array.isArray(v) ? v : [v]) metadata.push({ key, value });
    }
    const timeoutMs = opts.timeoutMs ?? 0;
    const bytes = encode(Request, { service, method, payload, timeout_nano: Math.round(timeoutMs * 1e6), metadata });
    if (bytes.length > MESSAGE_LENGTH_MAX) return Promise.reject(oversized(bytes.length));
    const id = this.nextId;
    this.nextId += 2; // client streams are odd
    if (this.nextId > 0xffffffff) this.nextId = 1;
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => this.settle(id, new TtrpcError(Code.DEADLINE_EXCEEDED, "context deadline exceeded")), timeoutMs)
          : undefined;
      this.pending.set(id, { resolve, reject, timer });
      this.socket.write(frame(id, TYPE_REQUEST, bytes));
    });
  }

  /** Closes the connection; calls in flight reject with TtrpcClosedError. */
  close(): void {
    this.shut(new TtrpcClosedError());
    this.socket.destroy();
  }

  private settle(id: number, result: Uint8Array | Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
  }

  private shut(e: Error): void {
    this.closedError ??= e;
    for (const id of [...this.pending.keys()]) this.settle(id, this.closedError);
  }
}

// ---------------------------------------------------------------------------------------------
// Events

/** The metadata key containerd reads a ttrpc call's namespace from (namespaces/ttrpc.go). */
export const NAMESPACE_METADATA_KEY = "containerd-namespace-ttrpc";

export interface PublishedEvent {
  namespace: string;
  /** e.g. "/tasks/exit"; messages.ts's topicOf(desc) gives the one for an event descriptor. */
  topic: string;
  /** The event as an Any: packAny(TaskExit, {...}). */
  event: Any;
  timestamp?: Date;
}

/** Forwards one event to containerd's ttrpc events service (containerd's "<address>.ttrpc" socket),
 *  as its shims' publisher does: the namespace in the envelope and in the metadata, a 5 s deadline. */
export async function publishEvent(client: TtrpcClient, ev: PublishedEvent, timeoutMs = 5000): Promise<void> {
  const envelope: Envelope = {
    timestamp: timestampFromDate(ev.timestamp ?? new Date()),
    namespace: ev.namespace,
    topic: ev.topic,
    event: ev.event,
  };
  await client.call(EVENTS_SERVICE, EVENTS_FORWARD, encode(ForwardRequest, { envelope }), {
    timeoutMs,
    metadata: { [NAMESPACE_METADATA_KEY]: ev.namespace },
  });
}
