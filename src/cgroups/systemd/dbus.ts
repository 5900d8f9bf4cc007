// The D-Bus wire protocol, and a small synchronous client: enough to drive systemd's Manager API.
// From the D-Bus specification: SASL EXTERNAL authentication, the message header, and the
// marshalling of the basic types (y b n q i u x t d s o g) and the containers (a ( ) { } v).
// Values are aligned to their size relative to the start of the message; we write little-endian
// and read either byte order (a message says which it uses).
//
// JavaScript shapes of the D-Bus types:
//   y n q i u → number;  x t → bigint (a number is accepted when writing);  d → number;  b → boolean;
//   s o g → string;  v → Variant;  ( … ) and { k v } → an array of the fields;
//   a… → an array, except ay, which reads as a Uint8Array (either is accepted when writing).
// The client is synchronous because the cgroup manager interface is: each read waits with a
// deadline, so a bus that goes silent ends in a DbusTimeoutError instead of a hang.

import { readSync, writeSync, closeSync } from "node:fs";
import { errnoCode } from "../errors.ts";

export type DbusValue = number | bigint | boolean | string | Uint8Array | Variant | DbusValue[];

/** A value with its own signature (the D-Bus "v" type). */
export class Variant {
  constructor(
    readonly signature: string,
    readonly value: DbusValue,
  ) {
    const types = splitSignature(signature);
    if (types.length !== 1) throw new DbusProtocolError(`a variant holds exactly one complete type, got ${JSON.stringify(signature)}`);
  }
}

export class DbusProtocolError extends Error {
  override name = "DbusProtocolError";
}

/** An error reply: `name` is the D-Bus error name ("org.freedesktop.systemd1.NoSuchUnit"). */
export class DbusError extends Error {
  override name = "DbusError";
  constructor(
    readonly errorName: string,
    message: string,
  ) {
    super(message ? `${errorName}: ${message}` : errorName);
  }
}

export class DbusTimeoutError extends Error {
  override name = "DbusTimeoutError";
}

// ---- signatures --------------------------------------------------------------------------------

const BASIC = "ybnqiuxtdsogh";
const ALIGN: Record<string, number> = { y: 1, b: 4, n: 2, q: 2, i: 4, u: 4, x: 8, t: 8, d: 8, s: 4, o: 4, g: 1, h: 4, a: 4, "(": 8, "{": 8, v: 1 };
const MAX_DEPTH = 32;

/** Index just past the complete type that starts at `i`. */
function typeEnd(sig: string, i: number, depth = 0): number {
  if (depth > MAX_DEPTH * 2) throw new DbusProtocolError(`signature ${JSON.stringify(sig)} nests too deeply`);
  const c = sig[i];
  if (c === undefined) throw new DbusProtocolError(`signature ${JSON.stringify(sig)} ends inside a type`);
  if (BASIC.includes(c) || c === "v") return i + 1;
  if (c === "a") {
    if (sig[i + 1] === "{") {
      const keyEnd = i + 3;
      if (!BASIC.includes(sig[i + 2] ?? "")) throw new DbusProtocolError(`dict key in ${JSON.stringify(sig)} must be a basic type`);
      const valEnd = typeEnd(sig, keyEnd, depth + 1);
      if (sig[valEnd] !== "}") throw new DbusProtocolError(`dict entry in ${JSON.stringify(sig)} must have one key and one value`);
      return valEnd + 1;
    }
    return typeEnd(sig, i + 1, depth + 1);
  }
  if (c === "(") {
    let j = i + 1;
    if (sig[j] === ")") throw new DbusProtocolError(`empty struct in signature ${JSON.stringify(sig)}`);
    while (sig[j] !== ")") j = typeEnd(sig, j, depth + 1);
    return j + 1;
  }
  throw new DbusProtocolError(`unexpected ${JSON.stringify(c)} in signature ${JSON.stringify(sig)}`);
}

/** "sa(sv)" → ["s", "a(sv)"]: the complete types of a signature. */
export function splitSignature(sig: string): string[] {
  if (sig.length > 255) throw new DbusProtocolError("signature longer than 255 bytes");
  const out: string[] = [];
  for (let i = 0; i < sig.length; ) {
    const end = typeEnd(sig, i);
    out.push(sig.slice(i, end));
    i = end;
  }
  return out;
}

const OBJECT_PATH = /^\/$|^(\/[A-Za-z0-9_]+)+$/;

// ---- marshalling -------------------------------------------------------------------------------

/** Bytes of a message being written; offsets count from the message's (or body's) start. */
class Writer {
  private readonly out: number[] = [];
  private readonly scratch = new DataView(new ArrayBuffer(8));

  get len(): number {
    return this.out.length;
  }

  align(n: number): void {
    while (this.out.length % n) this.out.push(0);
  }

  bytes(b: Uint8Array): void {
    for (const x of b) this.out.push(x);
  }

  u8(v: number): void {
    this.out.push(v);
  }

  /** Overwrites a u32 written before (an array's length, known once its elements are). */
  u32At(at: number, v: number): void {
    this.scratch.setUint32(0, v, true);
    for (let i = 0; i < 4; i++) this.out[at + i] = this.scratch.getUint8(i);
  }

  /** A fixed-size number, aligned to its size. */
  num(kind: "n" | "q" | "i" | "u" | "x" | "t" | "d", v: number | bigint): void {
    const size = ALIGN[kind]!;
    const d = this.scratch;
    if (kind === "n") d.setInt16(0, v as number, true);
    else if (kind === "q") d.setUint16(0, v as number, true);
    else if (kind === "i") d.setInt32(0, v as number, true);
    else if (kind === "u") d.setUint32(0, v as number, true);
    else if (kind === "x") d.setBigInt64(0, v as bigint, true);
    else if (kind === "t") d.setBigUint64(0, v as bigint, true);
    else d.setFloat64(0, v as number, true);
    this.align(size);
    for (let i = 0; i < size; i++) this.out.push(d.getUint8(i));
  }

  result(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

const INT_RANGE: Record<string, [number, number]> = {
  y: [0, 0xff],
  n: [-0x8000, 0x7fff],
  q: [0, 0xffff],
  i: [-0x8000_0000, 0x7fff_ffff],
  u: [0, 0xffff_ffff],
};
const BIG_RANGE: Record<string, [bigint, bigint]> = {
  x: [-(1n << 63n), (1n << 63n) - 1n],
  t: [0n, (1n << 64n) - 1n],
};

function typeError(type: string, v: unknown): DbusProtocolError {
  const shown = typeof v === "bigint" ? `${v}n` : JSON.stringify(v) ?? String(v);
  return new DbusProtocolError(`cannot marshal ${shown?.slice(0, 80)} as D-Bus type ${type}`);
}

function writeString(w: Writer, type: "s" | "o" | "g", v: unknown): void {
  if (typeof v !== "string" || v.includes("\0")) throw typeError(type, v);
  if (type === "o" && !OBJECT_PATH.test(v)) throw new DbusProtocolError(`invalid object path ${JSON.stringify(v)}`);
  if (type === "g") splitSignature(v);
  const b = encoder.encode(v);
  if (type === "g") w.u8(b.length);
  else w.num("u", b.length);
  w.bytes(b);
  w.u8(0);
}

function writeValue(w: Writer, type: string, v: unknown, depth: number): void {
  if (depth > MAX_DEPTH * 2) throw new DbusProtocolError("value nests too deeply");
  const c = type[0]!;
  switch (c) {
    case "y":
    case "n":
    case "q":
    case "i":
    case "u": {
      const [lo, hi] = INT_RANGE[c]!;
      if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) throw typeError(c, v);
      if (c === "y") w.u8(v);
      else w.num(c, v);
      return;
    }
    case "x":
    case "t": {
      const big = typeof v === "number" && Number.isSafeInteger(v) ? BigInt(v) : v;
      const [lo, hi] = BIG_RANGE[c]!;
      if (typeof big !== "bigint" || big < lo || big > hi) throw typeError(c, v);
      w.num(c, big);
      return;
    }
    case "d":
      if (typeof v !== "number") throw typeError(c, v);
      w.num("d", v);
      return;
    case "b":
      if (typeof v !== "boolean") throw typeError(c, v);
      w.num("u", v ? 1 : 0);
      return;
    case "s":
    case "o":
    case "g":
      writeString(w, c, v);
      return;
    case "v": {
      if (!(v instanceof Variant)) throw typeError(c, v);
      writeString(w, "g", v.signature);
      writeValue(w, v.signature, v.value, depth + 1);
      return;
    }
    case "a": {
      const elem = type.slice(1);
      const items = elem === "y" && v instanceof Uint8Array ? [...v] : v;
      if (!Array.isArray(items)) throw typeError(type, v);
      w.num("u", 0);
      const lenAt = w.len - 4;
      w.align(ALIGN[elem[0]!]!);
      const start = w.len;
      for (const item of items) writeValue(w, elem, item, depth + 1);
      const n = w.len - start;
      if (n > 64 * 1024 * 1024) throw new DbusProtocolError("array longer than 64 MiB");
      w.u32At(lenAt, n);
      return;
    }
    case "(":
    case "{": {
      const fields = splitSignature(type.slice(1, -1));
      if (!Array.isArray(v) || v.length !== fields.length) throw typeError(type, v);
      w.align(8);
      fields.forEach((f, i) => writeValue(w, f, v[i], depth + 1));
      return;
    }
    default:
      throw new DbusProtocolError(`cannot marshal D-Bus type ${JSON.stringify(type)}`);
  }
}

/** The values in D-Bus wire format (little-endian), as a body starting on an 8-byte boundary. */
export function marshal(signature: string, values: readonly unknown[]): Uint8Array {
  const types = splitSignature(signature);
  if (types.length !== values.length) {
    throw new DbusProtocolError(`signature ${JSON.stringify(signature)} has ${types.length} types but ${values.length} values were given`);
  }
  const w = new Writer();
  types.forEach((t, i) => writeValue(w, t, values[i], 0));
  return w.result();
}

class Reader {
  private readonly view: DataView;
  constructor(
    private readonly buf: Uint8Array,
    private readonly little: boolean,
    public pos: number,
    private readonly end: number,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  need(n: number): void {
    if (this.pos + n > this.end) throw new DbusProtocolError("message ends inside a value");
  }

  align(n: number): void {
    const pad = (n - (this.pos % n)) % n;
    this.need(pad);
    for (let i = 0; i < pad; i++) if (this.buf[this.pos + i] !== 0) throw new DbusProtocolError("non-zero alignment padding");
    this.pos += pad;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  num(kind: "n" | "q" | "i" | "u" | "x" | "t" | "d"): number | bigint {
    const size = ALIGN[kind]!;
    this.align(size);
    this.need(size);
    const at = this.pos;
    this.pos += size;
    const le = this.little;
    switch (kind) {
      case "n":
        return this.view.getInt16(at, le);
      case "q":
        return this.view.getUint16(at, le);
      case "i":
        return this.view.getInt32(at, le);
      case "u":
        return this.view.getUint32(at, le);
      case "x":
        return this.view.getBigInt64(at, le);
      case "t":
        return this.view.getBigUint64(at, le);
      case "d":
        return this.view.getFloat64(at, le);
    }
  }

  str(type: "s" | "o" | "g"): string {
    const n = type === "g" ? this.u8() : (this.num("u") as number);
    this.need(n + 1);
    const bytes = this.buf.subarray(this.pos, this.pos + n);
    if (this.buf[this.pos + n] !== 0) throw new DbusProtocolError("string not followed by a nul byte");
    this.pos += n + 1;
    let s: string;
    try {
      s = decoder.decode(bytes);
    } catch {
      throw new DbusProtocolError("string is not valid UTF-8");
    }
    if (s.includes("\0")) throw new DbusProtocolError("string contains a nul byte");
    if (type === "o" && !OBJECT_PATH.test(s)) throw new DbusProtocolError(`invalid object path ${JSON.stringify(s)}`);
    if (type === "g") splitSignature(s);
    return s;
  }

  value(type: string, depth: number): DbusValue {
    if (depth > MAX_DEPTH * 2) throw new DbusProtocolError("value nests too deeply");
    const c = type[0]!;
    switch (c) {
      case "y":
        return this.u8();
      case "b": {
        const v = this.num("u");
        if (v !== 0 && v !== 1) throw new DbusProtocolError(`boolean with value ${v}`);
        return v === 1;
      }
      case "n":
      case "q":
      case "i":
      case "u":
      case "x":
      case "t":
      case "d":
        return this.num(c);
      case "h":
        return this.num("u");
      case "s":
      case "o":
      case "g":
        return this.str(c);
      case "v": {
        const sig = this.str("g");
        if (splitSignature(sig).length !== 1) throw new DbusProtocolError(`variant signature ${JSON.stringify(sig)} is not one type`);
        return new Variant(sig, this.value(sig, depth + 1));
      }
      case "a": {
        const n = this.num("u") as number;
        if (n > 64 * 1024 * 1024) throw new DbusProtocolError("array longer than 64 MiB");
        const elem = type.slice(1);
        this.align(ALIGN[elem[0]!]!);
        this.need(n);
        const stop = this.pos + n;
        if (elem === "y") {
          const out = this.buf.slice(this.pos, stop);
          this.pos = stop;
          return out;
        }
        const out: DbusValue[] = [];
        while (this.pos < stop) out.push(this.value(elem, depth + 1));
        if (this.pos !== stop) throw new DbusProtocolError("array elements overrun the array length");
        return out;
      }
      case "(":
      case "{": {
        this.align(8);
        return splitSignature(type.slice(1, -1)).map((f) => this.value(f, depth + 1));
      }
      default:
        throw new DbusProtocolError(`cannot unmarshal D-Bus type ${JSON.stringify(type)}`);
    }
  }
}

/** Reads the values of `signature` from a body (the reverse of marshal()). */
export function unmarshal(signature: string, body: Uint8Array, littleEndian = true): DbusValue[] {
  const r = new Reader(body, littleEndian, 0, body.length);
  const out = splitSignature(signature).map((t) => r.value(t, 0));
  if (r.pos !== body.length) throw new DbusProtocolError(`${body.length - r.pos} bytes left after the values of ${JSON.stringify(signature)}`);
  return out;
}

// ---- messages ----------------------------------------------------------------------------------

export const METHOD_CALL = 1;
export const METHOD_RETURN = 2;
export const ERROR = 3;
export const SIGNAL = 4;

export interface Message {
  type: number;
  flags?: number;
  serial: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  /** The body's signature ("" for none). */
  signature?: string;
  body?: DbusValue[];
}

// Header field codes and their types.
const FIELDS: [keyof Message, number, string][] = [
  ["path", 1, "o"],
  ["interface", 2, "s"],
  ["member", 3, "s"],
  ["errorName", 4, "s"],
  ["replySerial", 5, "u"],
  ["destination", 6, "s"],
  ["sender", 7, "s"],
  ["signature", 8, "g"],
];

const MAX_MESSAGE = 128 * 1024 * 1024;

/** A whole message in wire format. */
export function encodeMessage(m: Message): Uint8Array {
  const sig = m.signature ?? "";
  const body = marshal(sig, m.body ?? []);
  const fields: [number, Variant][] = [];
  for (const [key, code, type] of FIELDS) {
    const v = key === "signature" ? (sig === "" ? undefined : sig) : m[key];
    if (v !== undefined) fields.push([code, new Variant(type, v as DbusValue)]);
  }
  const w = new Writer();
  for (const b of [0x6c /* 'l' */, m.type, m.flags ?? 0, 1]) w.u8(b);
  w.num("u", body.length);
  w.num("u", m.serial);
  writeValue(w, "a(yv)", fields, 0);
  w.align(8);
  w.bytes(body);
  return w.result();
}

/** Total length of the message at the start of `buf`, once its first 16 bytes are there. */
export function messageLength(buf: Uint8Array): number | undefined {
  if (buf.length < 16) return undefined;
  const little = endianness(buf[0]!);
  const view = new DataView(buf.buffer, buf.byteOffset, 16);
  const bodyLen = view.getUint32(4, little);
  const fieldsLen = view.getUint32(12, little);
  const headerEnd = 16 + fieldsLen;
  const total = headerEnd + ((8 - (headerEnd % 8)) % 8) + bodyLen;
  if (total > MAX_MESSAGE) throw new DbusProtocolError(`message of ${total} bytes is too long`);
  return total;
}

function endianness(b: number): boolean {
  if (b === 0x6c) return true;
  if (b === 0x42) return false;
  throw new DbusProtocolError(`invalid endianness byte 0x${b.toString(16)}`);
}

/** Parses one whole message (exactly messageLength(buf) bytes). */
export function decodeMessage(buf: Uint8Array): Message {
  const little = endianness(buf[0]!);
  if (buf[3] !== 1) throw new DbusProtocolError(`unsupported protocol version ${buf[3]}`);
  const r = new Reader(buf, little, 4, buf.length);
  const bodyLen = r.num("u") as number;
  const m: Message = { type: buf[1]!, flags: buf[2]!, serial: r.num("u") as number };
  for (const f of r.value("a(yv)", 0) as [number, Variant][]) {
    const [code, v] = f;
    const known = FIELDS.find(([, c]) => c === code);
    if (!known) continue; // unknown fields must be ignored
    if (v.signature !== known[2]) throw new DbusProtocolError(`header field ${code} has type ${v.signature}, not ${known[2]}`);
    (m as unknown as Record<string, unknown>)[known[0]] = v.value;
  }
  r.align(8);
  if (buf.length - r.pos !== bodyLen) throw new DbusProtocolError("body length does not match the header");
  const sig = m.signature ?? "";
  const body = new Reader(buf, little, r.pos, buf.length);
  m.body = splitSignature(sig).map((t) => body.value(t, 0));
  if (body.pos !== buf.length) throw new DbusProtocolError("bytes left after the body's values");
  return m;
}

// ---- transport ---------------------------------------------------------------------------------

/** A connected byte stream to a bus (or to a peer). */
export interface BusStream {
  write(data: Uint8Array): void;
  /** What arrived within timeoutMs: some bytes, an empty array at end of stream, null if nothing came. */
  read(timeoutMs: number): Uint8Array | null;
  close(): void;
}

const POLLIN = 1;
const POLLOUT = 4;

/** poll(2) on one fd: the returned events, 0 when the time ran out (see Native.poll). */
export type PollFn = (fd: number, events: number, timeoutMs: number) => number;

/** A BusStream over a connected socket fd; `poll` bounds every wait. The fd is closed by close(). */
export function fdStream(fd: number, poll: PollFn): BusStream {
  const chunk = Buffer.alloc(64 * 1024);
  // At least one poll, even when the time is up: what is there already is still taken.
  const waitFor = (events: number, deadline: number): boolean => {
    for (;;) {
      const left = Math.max(0, deadline - Date.now());
      if (poll(fd, events, Math.min(left, 0x7fff_ffff)) !== 0) return true;
      if (left === 0) return false;
    }
  };
  const again = (err: unknown, deadline: number): boolean => {
    const code = errnoCode(err);
    if (code !== "EAGAIN" && code !== "EINTR") throw err;
    return Date.now() < deadline;
  };
  return {
    write(data) {
      let off = 0;
      const deadline = Date.now() + 30_000;
      while (off < data.length) {
        // Room first: a peer that stopped reading must not block us in write(2) for ever.
        if (!waitFor(POLLOUT, deadline)) throw new DbusTimeoutError("timed out writing to the bus");
        try {
          off += writeSync(fd, data, off, data.length - off);
        } catch (err) {
          if (!again(err, deadline)) throw new DbusTimeoutError("timed out writing to the bus");
        }
      }
    },
    read(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (!waitFor(POLLIN, deadline)) return null;
        try {
          const n = readSync(fd, chunk, 0, chunk.length, null);
          return new Uint8Array(chunk.subarray(0, n)); // a copy: chunk is reused
        } catch (err) {
          if (!again(err, deadline)) return null;
        }
      }
    },
    close() {
      closeSync(fd);
    },
  };
}

// ---- the client --------------------------------------------------------------------------------

export interface ConnectOptions {
  /** Our uid, sent (as decimal text, hex-encoded) in AUTH EXTERNAL. */
  uid: number;
  /** A message bus (send Hello) rather than a peer such as systemd's private socket. */
  bus: boolean;
  /** Bound of each wait for the other side. */
  timeoutMs: number;
}

export interface CallOptions {
  destination?: string;
  path: string;
  interface: string;
  member: string;
  signature?: string;
  body?: unknown[];
  timeoutMs?: number;
}

/** One connection: authenticated, Hello'd on a bus, then method calls and signals. Signals that
 * arrive while waiting for a reply are kept for nextSignal(). */
export class DbusConnection {
  private inbuf = new Uint8Array(0);
  private serial = 0;
  private readonly queued: Message[] = [];
  uniqueName?: string;
  /** The server's GUID from the authentication. */
  guid = "";

  private constructor(
    private readonly stream: BusStream,
    readonly timeoutMs: number,
  ) {}

  /** Authenticates over `stream` (and says Hello on a bus). Closes the stream if that fails. */
  static open(stream: BusStream, opts: ConnectOptions): DbusConnection {
    const c = new DbusConnection(stream, opts.timeoutMs);
    try {
      c.authenticate(opts.uid);
      if (opts.bus) {
        const reply = c.call({
          destination: "org.freedesktop.DBus",
          path: "/org/freedesktop/DBus",
          interface: "org.freedesktop.DBus",
          member: "Hello",
        });
        c.uniqueName = String(reply.body?.[0] ?? "");
      }
      return c;
    } catch (err) {
      c.close();
      throw err;
    }
  }

  private authenticate(uid: number): void {
    const hexUid = Buffer.from(String(uid), "ascii").toString("hex");
    // The nul byte first: the spec's credentials byte (the kernel passes the real ones).
    this.stream.write(encoder.encode(`\0AUTH EXTERNAL ${hexUid}\r\n`));
    const line = this.readLine();
    if (!line.startsWith("OK ")) throw new DbusProtocolError(`authentication refused: ${JSON.stringify(line)}`);
    this.guid = line.slice(3).trim();
    this.stream.write(encoder.encode("BEGIN\r\n"));
  }

  private readLine(): string {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const i = this.inbuf.indexOf(0x0a);
      if (i >= 0) {
        const line = Buffer.from(this.inbuf.subarray(0, i)).toString("latin1").replace(/\r$/, "");
        this.inbuf = this.inbuf.slice(i + 1);
        return line;
      }
      if (this.inbuf.length > 16 * 1024) throw new DbusProtocolError("authentication line too long");
      this.fill(deadline, this.timeoutMs, "the authentication reply");
    }
  }

  /** Appends what arrives before the deadline to inbuf; throws on timeout or end of stream. */
  private fill(deadline: number, limitMs: number, what: string): void {
    const got = this.stream.read(Math.max(0, deadline - Date.now()));
    if (got === null) throw new DbusTimeoutError(`timed out after ${limitMs} ms waiting for ${what}`);
    if (got.length === 0) throw new DbusProtocolError(`connection closed while waiting for ${what}`);
    const next = new Uint8Array(this.inbuf.length + got.length);
    next.set(this.inbuf);
    next.set(got, this.inbuf.length);
    this.inbuf = next;
  }

  /** The next message, waiting until the deadline. */
  private receive(deadline: number, limitMs: number, what: string): Message {
    for (;;) {
      const n = messageLength(this.inbuf);
      if (n !== undefined && this.inbuf.length >= n) {
        const m = decodeMessage(this.inbuf.subarray(0, n));
        this.inbuf = this.inbuf.slice(n);
        return m;
      }
      this.fill(deadline, limitMs, what);
    }
  }

  send(m: Omit<Message, "serial">): number {
    const serial = ++this.serial;
    this.stream.write(encodeMessage({ ...m, serial }));
    return serial;
  }

  /** A method call and its reply; an error reply throws a DbusError. */
  call(o: CallOptions): Message {
    const serial = this.send({
      type: METHOD_CALL,
      destination: o.destination,
      path: o.path,
      interface: o.interface,
      member: o.member,
      signature: o.signature,
      body: o.body as DbusValue[] | undefined,
    });
    const what = `the reply to ${o.interface}.${o.member}`;
    const limit = o.timeoutMs ?? this.timeoutMs;
    const deadline = Date.now() + limit;
    for (;;) {
      const m = this.receive(deadline, limit, what);
      if ((m.type === METHOD_RETURN || m.type === ERROR) && m.replySerial === serial) {
        if (m.type === ERROR) {
          const text = typeof m.body?.[0] === "string" ? (m.body[0] as string) : "";
          throw new DbusError(m.errorName ?? "org.freedesktop.DBus.Error.Failed", text);
        }
        return m;
      }
      if (m.type === SIGNAL && this.queued.push(m) > 1000) this.queued.shift();
      // Anything else (a reply to a call we gave up on, a call to us) is dropped.
    }
  }

  /** The first signal (queued or new) that `match` accepts; new ones it does not are dropped.
   * Throws a DbusTimeoutError after timeoutMs. */
  nextSignal(match: (m: Message) => boolean, timeoutMs: number, what = "a signal"): Message {
    const i = this.queued.findIndex(match);
    if (i >= 0) return this.queued.splice(i, 1)[0]!;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.receive(deadline, timeoutMs, what);
      if (m.type === SIGNAL && match(m)) return m;
    }
  }

  close(): void {
    try {
      this.stream.close();
    } catch {
      /* already gone */
    }
  }
}
