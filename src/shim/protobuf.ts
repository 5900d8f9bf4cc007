// A small proto3 wire codec driven by message descriptors written in code (src/shim/messages.ts).
// Hand-written rather than a library: the shim is started per container, and the messages it speaks
// are a few dozen flat ones, so a table-driven codec of ~300 lines is cheaper to load than protobufjs.
//
// API:
//   message<T>(name, fields)          builds a descriptor; `name` is the full proto name (the Any type URL)
//   encode<T>(desc, obj): Uint8Array  proto3 defaults (0, "", false, empty bytes, [], {}) and undefined are omitted
//   decode<T>(desc, bytes): T         defaults filled in; unknown fields skipped; packed or not, both accepted
//   packAny(desc, obj) / unpackAny(desc, any) / anyIs(desc, any)   google.protobuf.Any helpers
//   timestampFromDate(d) / dateFromTimestamp(t)                    google.protobuf.Timestamp helpers
//   ProtobufError                                                  thrown on malformed input
//
// Values are plain objects keyed by the .proto field names (snake_case). All integer types are JS numbers
// (64-bit ones too: exact up to 2^53; encode also takes a bigint), enums are numbers, bytes are Uint8Array,
// an absent message field is undefined, a map is a plain object keyed by the key's string form.

export type ScalarType =
  | "double" | "float"
  | "int32" | "int64" | "uint32" | "uint64" | "sint32" | "sint64"
  | "fixed32" | "fixed64" | "sfixed32" | "sfixed64"
  | "bool" | "string" | "bytes" | "enum";

export type FieldDesc =
  | { name: string; no: number; type: ScalarType; repeated?: boolean }
  // `message` is a thunk so descriptors may refer to ones declared later (or to themselves).
  | { name: string; no: number; type: "message"; message: () => MessageDesc<any>; repeated?: boolean }
  | { name: string; no: number; type: "map"; key: ScalarType; value: ScalarType | (() => MessageDesc<any>) };

export interface MessageDesc<T> {
  /** Full proto name, e.g. "containerd.events.TaskExit". */
  readonly name: string;
  readonly fields: readonly FieldDesc[];
  /** Phantom: carries T for encode/decode's signatures; never set. */
  readonly __type?: T;
}

export class ProtobufError extends Error {
  override name = "ProtobufError";
}

export function message<T>(name: string, fields: FieldDesc[]): MessageDesc<T> {
  const seen = new Set<number>();
  for (const f of fields) {
    if (seen.has(f.no)) throw new Error(`${name}: duplicate field number ${f.no}`);
    seen.add(f.no);
  }
  return { name, fields };
}

// Wire types.
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

function wireTypeOf(t: ScalarType): number {
  switch (t) {
    case "double": case "fixed64": case "sfixed64": return I64;
    case "float": case "fixed32": case "sfixed32": return I32;
    case "string": case "bytes": return LEN;
    default: return VARINT;
  }
}

const utf8enc = new TextEncoder();
const utf8dec = new TextDecoder("utf-8", { fatal: true });

// ---------------------------------------------------------------------------------------------
// Encoding

class Writer {
  buf = new Uint8Array(64);
  len = 0;
  private view = new DataView(this.buf.buffer);

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.len++] = b;
  }

  /** An unsigned varint of a non-negative safe integer. */
  uvarint(n: number): void {
    this.room(10);
    while (n > 0x7f) {
      this.buf[this.len++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.len++] = n;
  }

  /** A 64-bit two's-complement varint (negative int32/int64 take ten bytes). */
  varint64(v: number | bigint): void {
    if (typeof v === "number" && v >= 0 && Number.isSafeInteger(v)) return this.uvarint(v);
    let u = BigInt.asUintN(64, toBigInt(v));
    this.room(10);
    while (u > 0x7fn) {
      this.buf[this.len++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.len++] = Number(u);
  }

  tag(no: number, wt: number): void {
    this.uvarint(no * 8 + wt);
  }

  bytes(b: Uint8Array): void {
    this.uvarint(b.length);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  fixed32(v: number, signed: boolean, float: boolean): void {
    this.room(4);
    if (float) this.view.setFloat32(this.len, v, true);
    else if (signed) this.view.setInt32(this.len, v, true);
    else this.view.setUint32(this.len, v >>> 0, true);
    this.len += 4;
  }

  fixed64(v: number | bigint, signed: boolean, float: boolean): void {
    this.room(8);
    if (float) this.view.setFloat64(this.len, Number(v), true);
    else if (signed) this.view.setBigInt64(this.len, BigInt.asIntN(64, toBigInt(v)), true);
    else this.view.setBigUint64(this.len, BigInt.asUintN(64, toBigInt(v)), true);
    this.len += 8;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function toBigInt(v: number | bigint): bigint {
  if (typeof v === "bigint") return v;
  if (!Number.isInteger(v)) throw new ProtobufError(`not an integer: ${v}`);
  return BigInt(v);
}

function isDefault(t: ScalarType, v: unknown): boolean {
  switch (t) {
    case "string": return v === "";
    case "bool": return v === false;
    case "bytes": return (v as Uint8Array).length === 0;
    default: return v === 0 || v === 0n;
  }
}

/** Writes one scalar's payload (no tag). */
function writeScalar(w: Writer, t: ScalarType, v: unknown, field: string): void {
  switch (t) {
    case "string":
      if (typeof v !== "string") throw new ProtobufError(`${field}: expected a string`);
      return w.bytes(utf8enc.encode(v));
    case "bytes":
      if (!(v instanceof Uint8Array)) throw new ProtobufError(`${field}: expected a Uint8Array`);
      return w.bytes(v);
    case "bool":
      return w.byte(v ? 1 : 0);
    case "double": return w.fixed64(num(v, field), false, true);
    case "float": return w.fixed32(num(v, field), false, true);
    case "fixed32": return w.fixed32(num(v, field), false, false);
    case "sfixed32": return w.fixed32(num(v, field), true, false);
    case "fixed64": return w.fixed64(int(v, field), false, false);
    case "sfixed64": return w.fixed64(int(v, field), true, false);
    case "int32": case "enum": return w.varint64(Number(int(v, field)) | 0);
    case "uint32": return w.uvarint(Number(int(v, field)) >>> 0);
    case "int64": case "uint64": return w.varint64(int(v, field));
    case "sint32": {
      const n = Number(int(v, field)) | 0;
      return w.uvarint(((n << 1) ^ (n >> 31)) >>> 0);
    }
    case "sint64": {
      const n = BigInt.asIntN(64, toBigInt(int(v, field)));
      return w.varint64(BigInt.asUintN(64, (n << 1n) ^ (n >> 63n)));
    }
  }
}

function num(v: unknown, field: string): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  throw new ProtobufError(`${field}: expected a number`);
}

function int(v: unknown, field: string): number | bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return v;
  throw new ProtobufError(`${field}: expected an integer, got ${String(v)}`);
}

function writeMessage(w: Writer, desc: MessageDesc<unknown>, obj: Record<string, unknown>): void {
  for (const f of desc.fields) {
    const v = obj[f.name];
    if (v === undefined || v === null) continue;
    const where = `${desc.name}.${f.name}`;
    if (f.type === "map") {
      for (const [k, mv] of Object.entries(v as Record<string, unknown>)) {
        const e = new Writer();
        e.tag(1, wireTypeOf(f.key));
        writeScalar(e, f.key, mapKey(f.key, k), where);
        if (typeof f.value === "function") {
          const sub = new Writer();
          writeMessage(sub, f.value(), mv as Record<string, unknown>);
          e.tag(2, LEN);
          e.bytes(sub.finish());
        } else {
          e.tag(2, wireTypeOf(f.value));
          writeScalar(e, f.value, mv, where);
        }
        w.tag(f.no, LEN);
        w.bytes(e.finish());
      }
    } else if (f.type === "message") {
      const items = f.repeated ? (v as unknown[]) : [v];
      for (const item of items) {
        const sub = new Writer();
        writeMessage(sub, f.message(), item as Record<string, unknown>);
        w.tag(f.no, LEN);
        w.bytes(sub.finish());
      }
    } else if (f.repeated) {
      const items = v as unknown[];
      if (items.length === 0) continue;
      const wt = wireTypeOf(f.type);
      if (wt === LEN) {
        for (const item of items) {
          w.tag(f.no, LEN);
          writeScalar(w, f.type, item, where);
        }
      } else {
        // proto3 packs repeated numeric fields by default.
        const p = new Writer();
        for (const item of items) writeScalar(p, f.type, item, where);
        w.tag(f.no, LEN);
        w.bytes(p.finish());
      }
    } else {
      if (isDefault(f.type, v)) continue;
      w.tag(f.no, wireTypeOf(f.type));
      writeScalar(w, f.type, v, where);
    }
  }
}

function mapKey(t: ScalarType, k: string): unknown {
  if (t === "string") return k;
  if (t === "bool") return k === "true";
  return t.endsWith("64") ? BigInt(k) : Number(k);
}

/** Encodes `obj` as `desc`. Fields missing from obj (or undefined) are left out. */
export function encode<T>(desc: MessageDesc<T>, obj: Partial<T>): Uint8Array {
  const w = new Writer();
  writeMessage(w, desc as MessageDesc<unknown>, obj as Record<string, unknown>);
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Decoding

class Reader {
  pos: number;
  private view: DataView;
  constructor(readonly buf: Uint8Array, pos = 0, readonly end = buf.length) {
    this.pos = pos;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new ProtobufError("truncated message");
  }

  /** A varint as [low 32 bits, high 32 bits], both unsigned. */
  varint(): [number, number] {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      this.need(1);
      const b = this.buf[this.pos++]!;
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if (b < 0x80) return [lo >>> 0, hi >>> 0];
    }
    throw new ProtobufError("varint longer than ten bytes");
  }

  /** A varint known to fit 32 bits unsigned (tags, lengths). */
  uint32(): number {
    return this.varint()[0];
  }

  length(): number {
    const [lo, hi] = this.varint();
    if (hi !== 0 || this.pos + lo > this.end) throw new ProtobufError("length past the end of the message");
    return lo;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(): [number, number] {
    const lo = this.u32();
    return [lo, this.u32()];
  }

  skip(wt: number): void {
    switch (wt) {
      case VARINT: this.varint(); return;
      case I64: this.need(8); this.pos += 8; return;
      case I32: this.need(4); this.pos += 4; return;
      case LEN: { const n = this.length(); this.pos += n; return; }
      default: throw new ProtobufError(`unsupported wire type ${wt}`);
    }
  }
}

function unsigned64(lo: number, hi: number): number {
  return hi * 0x100000000 + lo;
}

function signed64(lo: number, hi: number): number {
  return hi & 0x80000000 ? Number(BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo))) : unsigned64(lo, hi);
}

function readScalar(r: Reader, t: ScalarType): unknown {
  switch (t) {
    case "string": {
      const n = r.length();
      const s = r.buf.subarray(r.pos, r.pos + n);
      r.pos += n;
      try {
        return utf8dec.decode(s);
      } catch {
        throw new ProtobufError("string field is not valid UTF-8");
      }
    }
    case "bytes": {
      const n = r.length();
      // A plain Uint8Array copy: the input may be a Buffer (whose slice is a view) or reused.
      const b = new Uint8Array(r.buf.subarray(r.pos, r.pos + n));
      r.pos += n;
      return b;
    }
    case "bool": { const [lo, hi] = r.varint(); return lo !== 0 || hi !== 0; }
    case "int32": case "enum": return r.varint()[0] | 0;
    case "uint32": return r.varint()[0];
    case "int64": { const [lo, hi] = r.varint(); return signed64(lo, hi); }
    case "uint64": { const [lo, hi] = r.varint(); return unsigned64(lo, hi); }
    case "sint32": { const lo = r.varint()[0]; return (lo >>> 1) ^ -(lo & 1); }
    case "sint64": {
      const [lo, hi] = r.varint();
      const u = (BigInt(hi) << 32n) | BigInt(lo);
      return Number((u >> 1n) ^ -(u & 1n));
    }
    case "fixed32": return r.u32();
    case "sfixed32": return r.u32() | 0;
    case "float": { const u = r.u32(); const dv = new DataView(new ArrayBuffer(4)); dv.setUint32(0, u, true); return dv.getFloat32(0, true); }
    case "fixed64": { const [lo, hi] = r.u64(); return unsigned64(lo, hi); }
    case "sfixed64": { const [lo, hi] = r.u64(); return signed64(lo, hi); }
    case "double": {
      const [lo, hi] = r.u64();
      const dv = new DataView(new ArrayBuffer(8));
      dv.setUint32(0, lo, true);
      dv.setUint32(4, hi, true);
      return dv.getFloat64(0, true);
    }
  }
}

function defaultOf(t: ScalarType): unknown {
  switch (t) {
    case "string": return "";
    case "bool": return false;
    case "bytes": return new Uint8Array(0);
    default: return 0;
  }
}

/** Field lookup by number, cached per descriptor. */
const byNumber = new WeakMap<MessageDesc<unknown>, Map<number, FieldDesc>>();
function fieldsByNumber(desc: MessageDesc<unknown>): Map<number, FieldDesc> {
  let m = byNumber.get(desc);
  if (!m) {
    m = new Map(desc.fields.map((f) => [f.no, f]));
    byNumber.set(desc, m);
  }
  return m;
}

function newMessage(desc: MessageDesc<unknown>): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of desc.fields) {
    if (f.type === "map") o[f.name] = {};
    else if (f.repeated) o[f.name] = [];
    else if (f.type === "message") o[f.name] = undefined;
    else o[f.name] = defaultOf(f.type);
  }
  return o;
}

/** Decodes buf[pos, end) into `out`; a message field seen twice is merged, as protobuf says. */
function readMessage(desc: MessageDesc<unknown>, buf: Uint8Array, pos: number, end: number, out: Record<string, unknown>, depth: number): void {
  if (depth > 100) throw new ProtobufError("message nested too deeply");
  const r = new Reader(buf, pos, end);
  const fields = fieldsByNumber(desc);
  while (r.pos < end) {
    const tag = r.uint32();
    const no = tag >>> 3;
    const wt = tag & 7;
    if (no === 0) throw new ProtobufError(`${desc.name}: field number 0`);
    const f = fields.get(no);
    if (!f) {
      r.skip(wt);
      continue;
    }
    if (f.type === "message") {
      if (wt !== LEN) throw new ProtobufError(`${desc.name}.${f.name}: wire type ${wt}, expected 2`);
      const n = r.length();
      const sub = f.message();
      if (f.repeated) {
        const item = newMessage(sub);
        readMessage(sub, buf, r.pos, r.pos + n, item, depth + 1);
        (out[f.name] as unknown[]).push(item);
      } else {
        const item = (out[f.name] as Record<string, unknown> | undefined) ?? newMessage(sub);
        readMessage(sub, buf, r.pos, r.pos + n, item, depth + 1);
        out[f.name] = item;
      }
      r.pos += n;
    } else if (f.type === "map") {
      if (wt !== LEN) throw new ProtobufError(`${desc.name}.${f.name}: wire type ${wt}, expected 2`);
      const n = r.length();
      const entryEnd = r.pos + n;
      const e = new Reader(buf, r.pos, entryEnd);
      let key: unknown = defaultOf(f.key);
      const valueDesc = typeof f.value === "function" ? f.value() : undefined;
      let value: unknown = valueDesc ? newMessage(valueDesc) : defaultOf(f.value as ScalarType);
      while (e.pos < entryEnd) {
        const etag = e.uint32();
        if (etag >>> 3 === 1 && (etag & 7) === wireTypeOf(f.key)) key = readScalar(e, f.key);
        else if (etag >>> 3 === 2 && valueDesc && (etag & 7) === LEN) {
          const vn = e.length();
          readMessage(valueDesc, buf, e.pos, e.pos + vn, value as Record<string, unknown>, depth + 1);
          e.pos += vn;
        } else if (etag >>> 3 === 2 && !valueDesc && (etag & 7) === wireTypeOf(f.value as ScalarType)) {
          value = readScalar(e, f.value as ScalarType);
        } else e.skip(etag & 7);
      }
      (out[f.name] as Record<string, unknown>)[String(key)] = value;
      r.pos = entryEnd;
    } else {
      const expected = wireTypeOf(f.type);
      if (f.repeated && wt === LEN && expected !== LEN) {
        // Packed: a run of scalars without tags.
        const n = r.length();
        const packed = new Reader(buf, r.pos, r.pos + n);
        const list = out[f.name] as unknown[];
        while (packed.pos < packed.end) list.push(readScalar(packed, f.type));
        r.pos += n;
      } else if (wt === expected) {
        const v = readScalar(r, f.type);
        if (f.repeated) (out[f.name] as unknown[]).push(v);
        else out[f.name] = v;
      } else {
        throw new ProtobufError(`${desc.name}.${f.name}: wire type ${wt}, expected ${expected}`);
      }
    }
  }
  if (r.pos !== end) throw new ProtobufError(`${desc.name}: truncated message`);
}

/** Decodes `bytes` as `desc`, every field present (proto3 defaults for the absent ones). */
export function decode<T>(desc: MessageDesc<T>, bytes: Uint8Array): T {
  const d = desc as MessageDesc<unknown>;
  const out = newMessage(d);
  readMessage(d, bytes, 0, bytes.length, out, 0);
  return out as T;
}

// ---------------------------------------------------------------------------------------------
// Well-known types

export interface Any {
  type_url: string;
  value: Uint8Array;
}
export const Any: MessageDesc<Any> = message("google.protobuf.Any", [
  { name: "type_url", no: 1, type: "string" },
  { name: "value", no: 2, type: "bytes" },
]);

export interface Timestamp {
  seconds: number;
  nanos: number;
}
export const Timestamp: MessageDesc<Timestamp> = message("google.protobuf.Timestamp", [
  { name: "seconds", no: 1, type: "int64" },
  { name: "nanos", no: 2, type: "int32" },
]);

export type Empty = Record<string, never>;
export const Empty: MessageDesc<Empty> = message("google.protobuf.Empty", []);

export function timestampFromDate(d: Date): Timestamp {
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** Millisecond precision (a Date's): the nanoseconds below a millisecond are dropped. */
export function dateFromTimestamp(t: Timestamp): Date {
  return new Date(t.seconds * 1000 + Math.floor(t.nanos / 1_000_000));
}

/** An Any holding `obj`; the type URL is the bare full name, as containerd 1.6's typeurl registers it. */
export function packAny<T>(desc: MessageDesc<T>, obj: Partial<T>): Any {
  return { type_url: desc.name, value: encode(desc, obj) };
}

/** Whether `any` holds a `desc` (bare name or "type.googleapis.com/"-style prefixed URL). */
export function anyIs(desc: MessageDesc<unknown>, any: Any): boolean {
  const u = any.type_url;
  return u === desc.name || u.endsWith(`/${desc.name}`);
}

export function unpackAny<T>(desc: MessageDesc<T>, any: Any): T {
  if (!anyIs(desc as MessageDesc<unknown>, any)) throw new ProtobufError(`Any holds ${JSON.stringify(any.type_url)}, not ${desc.name}`);
  return decode(desc, any.value);
}
