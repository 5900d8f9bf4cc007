import { mkdtempSync, rmSync, statSync, existsSync, readdirSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { decode, encode, packAny } from "../../src/shim/protobuf.ts";
import * as M from "../../src/shim/messages.ts";
import {
  type CallContext, Code, MESSAGE_LENGTH_MAX, NAMESPACE_METADATA_KEY, publishEvent, TtrpcClient, TtrpcClosedError, TtrpcError, TtrpcServer, unary,
} from "../../src/shim/ttrpc.ts";

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** A promise and its resolver: lets a test decide when a handler answers. */
function gate<T = void>(): { promise: Promise<T>; open: (v: T) => void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A bare socket speaking frames by hand, independent of ttrpc.ts's framing. */
class Raw {
  private buf = Buffer.alloc(0);
  frames: { length: number; id: number; type: number; flags: number; data: Buffer }[] = [];
  constructor(readonly sock: net.Socket) {
    sock.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 10 && this.buf.length >= 10 + this.buf.readUInt32BE(0)) {
        const length = this.buf.readUInt32BE(0);
        this.frames.push({ length, id: this.buf.readUInt32BE(4), type: this.buf[8]!, flags: this.buf[9]!, data: this.buf.subarray(10, 10 + length) });
        this.buf = this.buf.subarray(10 + length);
      }
    });
  }
  static connect(path: string): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(path, () => resolve(new Raw(s)));
      s.once("error", reject);
    });
  }
  send(id: number, type: number, data: Uint8Array, length = data.length): void {
    const h = Buffer.alloc(10);
    h.writeUInt32BE(length, 0);
    h.writeUInt32BE(id, 4);
    h[8] = type;
    this.sock.write(Buffer.concat([h, data]));
  }
  request(id: number, service: string, method: string, payload: Uint8Array): void {
    this.send(id, 1, encode(M.Request, { service, method, payload }));
  }
  response(i: number): M.Response {
    return decode(M.Response, this.frames[i]!.data);
  }
}

describe("ttrpc over a unix socket", () => {
  let dir = "";
  let sock = "";
  let server: TtrpcServer;
  const clients: TtrpcClient[] = [];
  const raws: Raw[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "tsrunc-ttrpc-"));
    sock = join(dir, "s", "shim.sock");
    server = new TtrpcServer();
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const r of raws.splice(0)) r.sock.destroy();
    await server.close();
    const left = existsSync(join(dir, "s")) ? readdirSync(join(dir, "s")) : [];
    rmSync(dir, { recursive: true, force: true });
    expect(left).toEqual([]); // the socket file went with close()
  });

  async function connect(): Promise<TtrpcClient> {
    const c = await TtrpcClient.connect(sock);
    clients.push(c);
    return c;
  }
  async function raw(): Promise<Raw> {
    const r = await Raw.connect(sock);
    raws.push(r);
    return r;
  }

  it("makes the socket 0600 in a directory it creates, and refuses a second listener on it", async () => {
    await server.listen(sock);
    const st = statSync(sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    const other = new TtrpcServer();
    await expect(other.listen(sock)).rejects.toThrow(/EADDRINUSE/);
  });

  it("listens on an abstract socket too", async () => {
    const abstract = new TtrpcServer();
    abstract.register("t.S", { Echo: async (p) => p });
    const name = `\0tsrunc-ttrpc-test-${process.pid}-${Date.now()}`;
    await abstract.listen(name);
    try {
      const c = await TtrpcClient.connect(name);
      expect(await c.unref().call("t.S", "Echo", text("abs"))).toEqual(text("abs"));
      c.close();
    } finally {
      await abstract.close();
    }
  });

  it("serves calls concurrently and answers them out of order on their stream ids", async () => {
    const slow = gate();
    const seen: string[] = [];
    server.register("t.S", {
      Slow: async (p) => {
        seen.push("slow");
        await slow.promise;
        return text("slow:" + str(p));
      },
      Fast: async (p) => {
        seen.push("fast");
        return text("fast:" + str(p));
      },
    });
    await server.listen(sock);

    // Raw frames: the server answers stream 3 before stream 1, as response type 2, flags 0.
    const r = await raw();
    r.request(1, "t.S", "Slow", text("a"));
    r.request(3, "t.S", "Fast", text("b"));
    await until(() => r.frames.length === 1);
    expect(r.frames[0]).toMatchObject({ id: 3, type: 2, flags: 0 });
    expect(r.response(0)).toMatchObject({ status: { code: 0 }, payload: text("fast:b") });
    slow.open();
    await until(() => r.frames.length === 2);
    expect(r.frames[1]!.id).toBe(1);
    expect(str(r.response(1).payload)).toBe("slow:a");

    // The client: many calls in flight at once, each promise gets its own answer.
    const c = await connect();
    const gates = Array.from({ length: 20 }, () => gate());
    let n = 0;
    server.register("t.G", {
      Wait: async (p) => {
        await gates[n++]!.promise;
        return p;
      },
    });
    const calls = gates.map((_, i) => c.call("t.G", "Wait", text(String(i))));
    await until(() => n === 20 && server.inFlight === 20);
    for (const g of [...gates].reverse()) g.open();
    expect((await Promise.all(calls)).map(str)).toEqual(gates.map((_, i) => String(i)));
  });

  it("uses odd, increasing stream ids from the client", async () => {
    const ids: number[] = [];
    const listener = net.createServer((s) => {
      const r = new Raw(s);
      s.on("data", () => {
        for (const f of r.frames.splice(0)) {
          ids.push(f.id);
          s.write(Buffer.concat([Buffer.from([0, 0, 0, 0]), Buffer.from([0, 0, 0, f.id]), Buffer.from([2, 0])]));
        }
      });
    });
    const p = join(dir, "raw.sock");
    await new Promise<void>((res) => listener.listen(p, res));
    try {
      const c = await TtrpcClient.connect(p);
      for (let i = 0; i < 3; i++) expect(await c.call("x", "y", new Uint8Array(0))).toEqual(new Uint8Array(0));
      c.close();
      expect(ids).toEqual([1, 3, 5]);
    } finally {
      await new Promise((res) => listener.close(res));
    }
  });

  it("answers an unknown service or method UNIMPLEMENTED in ttrpc's words", async () => {
    server.register("t.S", { M: async () => new Uint8Array(0) });
    await server.listen(sock);
    const c = await connect();
    await expect(c.call("t.Nope", "M", new Uint8Array(0))).rejects.toMatchObject({ code: Code.UNIMPLEMENTED, message: "service t.Nope" });
    await expect(c.call("t.S", "Nope", new Uint8Array(0))).rejects.toMatchObject({ code: Code.UNIMPLEMENTED, message: "method Nope" });
    await expect(c.call("t.S", "toString", new Uint8Array(0))).rejects.toMatchObject({ code: Code.UNIMPLEMENTED });
    expect(await c.call("t.S", "M", new Uint8Array(0))).toEqual(new Uint8Array(0));
  });

  it("answers a handler's TtrpcError with its status and any other throw as UNKNOWN", async () => {
    server.register("t.S", {
      NotFound: async () => {
        throw new TtrpcError(Code.NOT_FOUND, "container x: not found");
      },
      Boom: async () => {
        throw new Error("boom");
      },
      Sync: (() => {
        throw "a string";
      }) as never,
    });
    await server.listen(sock);
    const c = await connect();
    const e = await c.call("t.S", "NotFound", new Uint8Array(0)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TtrpcError);
    expect(e).toMatchObject({ code: Code.NOT_FOUND, message: "container x: not found" });
    await expect(c.call("t.S", "Boom", new Uint8Array(0))).rejects.toMatchObject({ code: Code.UNKNOWN, message: "boom" });
    await expect(c.call("t.S", "Sync", new Uint8Array(0))).rejects.toMatchObject({ code: Code.UNKNOWN, message: "a string" });
  });

  it("typed methods: unary() decodes, encodes, and answers an undecodable request INTERNAL", async () => {
    server.register(M.TASK_SERVICE, {
      State: unary(M.StateRequest, M.StateResponse, async (req) => ({ id: req.id, exec_id: req.exec_id, pid: 42, status: M.TaskStatus.RUNNING })),
    });
    await server.listen(sock);
    const c = await connect();
    const resp = decode(M.StateResponse, await c.call(M.TASK_SERVICE, "State", encode(M.StateRequest, { id: "c1" })));
    expect(resp).toMatchObject({ id: "c1", exec_id: "", pid: 42, status: 2, exited_at: undefined });
    await expect(c.call(M.TASK_SERVICE, "State", new Uint8Array([0x0a, 0x05]))).rejects.toMatchObject({ code: Code.INTERNAL });
  });

  it("passes metadata and the deadline to the handler; a client deadline rejects DEADLINE_EXCEEDED", async () => {
    let got: CallContext | undefined;
    const never = gate();
    server.register("t.S", {
      Ctx: async (_p, ctx) => {
        got = ctx;
        return new Uint8Array(0);
      },
      Hang: async (_p, ctx) => {
        got = ctx;
        await never.promise;
        return new Uint8Array(0);
      },
    });
    await server.listen(sock);
    const c = await connect();
    await c.call("t.S", "Ctx", new Uint8Array(0), { metadata: { [NAMESPACE_METADATA_KEY]: "default", multi: ["a", "b"] } });
    expect(got!.metadata).toEqual({ [NAMESPACE_METADATA_KEY]: ["default"], multi: ["a", "b"] });
    expect(got!.timeoutNano).toBe(0);
    const t0 = Date.now();
    await expect(c.call("t.S", "Hang", new Uint8Array(0), { timeoutMs: 100 })).rejects.toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(got!.timeoutNano).toBe(100_000_000);
    await until(() => got!.signal.aborted);
    // The connection still works after a timed-out call, and a late answer is dropped.
    never.open();
    await expect(c.call("t.S", "Ctx", new Uint8Array(0))).resolves.toEqual(new Uint8Array(0));
  });

  it("refuses oversized messages: the server discards one and answers RESOURCE_EXHAUSTED, then goes on", async () => {
    server.register("t.S", {
      Echo: async (p) => p,
      Big: async () => new Uint8Array(MESSAGE_LENGTH_MAX + 1),
    });
    await server.listen(sock);
    const r = await raw();
    const big = Buffer.alloc(MESSAGE_LENGTH_MAX + 1, 0x41);
    r.send(5, 1, big);
    r.request(7, "t.S", "Echo", text("after"));
    await until(() => r.frames.length === 2, 5000);
    expect(r.frames[0]!.id).toBe(5);
    expect(r.response(0).status).toMatchObject({
      code: Code.RESOURCE_EXHAUSTED,
      message: `message length ${MESSAGE_LENGTH_MAX + 1} exceed maximum message size of ${MESSAGE_LENGTH_MAX}`,
    });
    expect(r.frames[1]!.id).toBe(7);
    expect(str(r.response(1).payload)).toBe("after");

    const c = await connect();
    // Near the limit is fine both ways.
    const near = new Uint8Array(MESSAGE_LENGTH_MAX - 100).fill(7);
    expect((await c.call("t.S", "Echo", near)).length).toBe(near.length);
    // The client refuses to send an oversized request; the server refuses to send an oversized answer.
    await expect(c.call("t.S", "Echo", new Uint8Array(MESSAGE_LENGTH_MAX))).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    await expect(c.call("t.S", "Big", new Uint8Array(0))).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    expect(await c.call("t.S", "Echo", text("ok"))).toEqual(text("ok"));
  });

  it("answers even stream ids and garbage requests INVALID_ARGUMENT, ignores data frames", async () => {
    server.register("t.S", { Echo: async (p) => p });
    await server.listen(sock);
    const r = await raw();
    r.request(2, "t.S", "Echo", text("x"));
    r.send(9, 1, new Uint8Array([0x0a, 0x09]));
    r.send(11, 3, text("data"));
    r.request(13, "t.S", "Echo", text("y"));
    await until(() => r.frames.length === 3);
    expect(r.frames.map((f) => f.id)).toEqual([2, 9, 13]);
    expect(r.response(0).status).toMatchObject({ code: Code.INVALID_ARGUMENT, message: "StreamID must be odd for client initiated streams" });
    expect(r.response(1).status!.code).toBe(Code.INVALID_ARGUMENT);
    expect(str(r.response(2).payload)).toBe("y");
  });

  it("a client closing mid-call rejects its calls, aborts the handler's signal and counts the connection gone", async () => {
    const hang = gate();
    let signal: AbortSignal | undefined;
    server.register("t.S", {
      Hang: async (_p, ctx) => {
        signal = ctx.signal;
        await hang.promise;
        return new Uint8Array(0);
      },
    });
    const counts: number[] = [];
    server.onConnectionClosed = (n) => counts.push(n);
    await server.listen(sock);
    const c = await connect();
    const pending = c.call("t.S", "Hang", new Uint8Array(0));
    await until(() => signal !== undefined);
    expect(server.connections).toBe(1);
    c.close();
    await expect(pending).rejects.toBeInstanceOf(TtrpcClosedError);
    await expect(c.call("t.S", "Hang", new Uint8Array(0))).rejects.toThrow("ttrpc: closed");
    await until(() => counts.length === 1);
    expect(counts).toEqual([0]);
    expect(signal!.aborted).toBe(true);
    hang.open(); // the late answer goes nowhere
    await until(() => server.inFlight === 0);
  });

  it("the server closing mid-call rejects the client's calls with TtrpcClosedError and removes the socket", async () => {
    server.register("t.S", { Hang: () => new Promise(() => {}) });
    await server.listen(sock);
    const c = await connect();
    const pending = c.call("t.S", "Hang", new Uint8Array(0));
    await until(() => server.inFlight === 1);
    await server.close();
    await expect(pending).rejects.toBeInstanceOf(TtrpcClosedError);
    expect(c.closed).toBe(true);
    expect(existsSync(sock)).toBe(false);
    await expect(TtrpcClient.connect(sock)).rejects.toThrow(/ENOENT|ECONNREFUSED/);
  });

  it("publishEvent forwards an envelope with the namespace in it and in the metadata", async () => {
    const got: { req: M.ForwardRequest; ctx: CallContext }[] = [];
    server.register(M.EVENTS_SERVICE, {
      [M.EVENTS_FORWARD]: unary(M.ForwardRequest, M.Empty, async (req, ctx) => {
        got.push({ req, ctx });
        return {};
      }),
    });
    await server.listen(sock);
    const c = await connect();
    const exit = { container_id: "c1", id: "c1", pid: 42, exit_status: 137, exited_at: { seconds: 1700000000, nanos: 0 } };
    await publishEvent(c, { namespace: "k8s.io", topic: M.topicOf(M.TaskExit), event: packAny(M.TaskExit, exit), timestamp: new Date(1700000001000) });
    expect(got).toHaveLength(1);
    const env = got[0]!.req.envelope!;
    expect(env).toMatchObject({ namespace: "k8s.io", topic: "/tasks/exit", timestamp: { seconds: 1700000001, nanos: 0 } });
    expect(env.event!.type_url).toBe("containerd.events.TaskExit");
    expect(decode(M.TaskExit, env.event!.value)).toEqual(exit);
    expect(got[0]!.ctx.metadata).toEqual({ [NAMESPACE_METADATA_KEY]: ["k8s.io"] });
    expect(got[0]!.ctx.timeoutNano).toBe(5_000_000_000);
  });
});
