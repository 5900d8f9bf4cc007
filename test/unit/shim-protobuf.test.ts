import { describe, expect, it } from "vitest";
import {
  Any, anyIs, dateFromTimestamp, decode, encode, message, type MessageDesc, packAny, ProtobufError, timestampFromDate, Timestamp, unpackAny,
} from "../../src/shim/protobuf.ts";
import * as M from "../../src/shim/messages.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));

// Every scalar kind, repeated (packed and not), nested, repeated nested and a map. The reference
// bytes below were produced by `protoc --encode=t.All` (protoc 3.21) from this .proto text:
//   message Kv { string key = 1; string value = 2; }
//   message All { int32 i32 = 1; int64 i64 = 2; uint32 u32 = 3; uint64 u64 = 4; sint32 s32 = 5; sint64 s64 = 6;
//     fixed32 f32 = 7; fixed64 f64 = 8; sfixed32 sf32 = 9; sfixed64 sf64 = 10; bool b = 11; string s = 12;
//     bytes by = 13; double d = 14; float f = 15; repeated uint32 ru = 16; repeated string rs = 17;
//     Kv kv = 18; repeated Kv rkv = 19; map<string,string> m = 20; int32 e = 21; }
interface Kv { key: string; value: string }
const Kv: MessageDesc<Kv> = message("t.Kv", [
  { name: "key", no: 1, type: "string" },
  { name: "value", no: 2, type: "string" },
]);
interface All {
  i32: number; i64: number; u32: number; u64: number; s32: number; s64: number;
  f32: number; f64: number; sf32: number; sf64: number; b: boolean; s: string;
  by: Uint8Array; d: number; f: number; ru: number[]; rs: string[];
  kv: Kv | undefined; rkv: Kv[]; m: Record<string, string>; e: number;
}
const All: MessageDesc<All> = message("t.All", [
  { name: "i32", no: 1, type: "int32" },
  { name: "i64", no: 2, type: "int64" },
  { name: "u32", no: 3, type: "uint32" },
  { name: "u64", no: 4, type: "uint64" },
  { name: "s32", no: 5, type: "sint32" },
  { name: "s64", no: 6, type: "sint64" },
  { name: "f32", no: 7, type: "fixed32" },
  { name: "f64", no: 8, type: "fixed64" },
  { name: "sf32", no: 9, type: "sfixed32" },
  { name: "sf64", no: 10, type: "sfixed64" },
  { name: "b", no: 11, type: "bool" },
  { name: "s", no: 12, type: "string" },
  { name: "by", no: 13, type: "bytes" },
  { name: "d", no: 14, type: "double" },
  { name: "f", no: 15, type: "float" },
  { name: "ru", no: 16, type: "uint32", repeated: true },
  { name: "rs", no: 17, type: "string", repeated: true },
  { name: "kv", no: 18, type: "message", message: () => Kv },
  { name: "rkv", no: 19, type: "message", message: () => Kv, repeated: true },
  { name: "m", no: 20, type: "map", key: "string", value: "string" },
  { name: "e", no: 21, type: "enum" },
]);

const ALL_VALUE: All = {
  i32: -1, i64: -2, u32: 4294967295, u64: 9007199254740991, s32: -3, s64: -4,
  f32: 5, f64: 6, sf32: -7, sf64: -8, b: true, s: "héllo",
  by: new Uint8Array([0, 255]), d: 1.5, f: -2.5, ru: [1, 300, 0], rs: ["a", ""],
  kv: { key: "k", value: "v" }, rkv: [{ key: "x", value: "" }, { key: "", value: "" }], m: { a: "b" }, e: 2,
};
const ALL_BYTES =
  "08ffffffffffffffffff0110feffffffffffffffff0118ffffffff0f20ffffffffffffff0f280530073d050000004106000000000000004df9ffffff51f8ffffffffffffff5801620668c3a96c6c6f6a0200ff71000000000000f83f7d000020c082010401ac02008a0101618a01009201060a016b1201769a01030a01789a0100a201060a0161120162a80102";

describe("protobuf codec", () => {
  it("encodes every field kind byte-for-byte as protoc does", () => {
    expect(hex(encode(All, ALL_VALUE))).toBe(ALL_BYTES);
  });

  it("decodes protoc's bytes back to the same values", () => {
    expect(decode(All, unhex(ALL_BYTES))).toEqual(ALL_VALUE);
  });

  it("fills proto3 defaults on decode and omits them on encode", () => {
    const empty = decode(All, new Uint8Array(0));
    expect(empty).toEqual({
      i32: 0, i64: 0, u32: 0, u64: 0, s32: 0, s64: 0, f32: 0, f64: 0, sf32: 0, sf64: 0, b: false, s: "",
      by: new Uint8Array(0), d: 0, f: 0, ru: [], rs: [], kv: undefined, rkv: [], m: {}, e: 0,
    });
    expect(encode(All, empty)).toEqual(new Uint8Array(0));
    expect(encode(All, {})).toEqual(new Uint8Array(0));
    // A present but empty message is still written (presence), as field 18 with length 0.
    expect(hex(encode(All, { kv: { key: "", value: "" } }))).toBe("920100");
  });

  it("handles large and negative varints, and bigint on encode", () => {
    // protoc --encode: i64: 1700000000123, u64: 18446744073709551615
    expect(hex(encode(All, { i64: 1700000000123 }))).toBe("10fbd095ffbc31");
    expect(hex(encode(All, { u64: 18446744073709551615n as unknown as number }))).toBe("20ffffffffffffffffff01");
    const big = { i64: -(2 ** 53 - 1), u64: 2 ** 53 - 1, s64: -(2 ** 40), sf64: -(2 ** 50), f64: 2 ** 52 + 3, i32: -2147483648, u32: 2 ** 31 };
    expect(decode(All, encode(All, big))).toMatchObject(big);
    expect(decode(All, encode(All, { s32: 2147483647 })).s32).toBe(2147483647);
    expect(decode(All, encode(All, { s32: -2147483648 })).s32).toBe(-2147483648);
    // An int32 field holding a sign-extended ten-byte varint.
    expect(decode(All, unhex("0880808080f8ffffffff01")).i32).toBe(-2147483648);
    expect(() => encode(All, { i64: 1.5 })).toThrow(ProtobufError);
  });

  it("decodes repeated scalars both packed and unpacked", () => {
    // field 16 unpacked: tag 0x80 0x01 (wire type 0) three times, then packed [7]
    const bytes = unhex("8001018001ac028001008201010" + "7");
    expect(decode(All, bytes).ru).toEqual([1, 300, 0, 7]);
  });

  it("skips unknown fields of every wire type", () => {
    const known = encode(All, { s: "x", u32: 9 });
    // field 100 varint, 101 fixed64, 102 length-delimited, 103 fixed32
    const unknown = unhex("a006968002a9060102030405060708b2060361626" + "3bd0601020304");
    const mixed = new Uint8Array([...unknown, ...known, ...unknown]);
    expect(decode(All, mixed)).toMatchObject({ s: "x", u32: 9 });
  });

  it("merges a message field seen twice and keeps the last scalar", () => {
    const a = encode(All, { kv: { key: "k", value: "" }, u32: 1 });
    const b = encode(All, { kv: { key: "", value: "v" }, u32: 2 });
    const d = decode(All, new Uint8Array([...a, ...b]));
    expect(d.kv).toEqual({ key: "k", value: "v" });
    expect(d.u32).toBe(2);
  });

  it("rejects truncated and malformed input", () => {
    const good = encode(All, ALL_VALUE);
    for (const cut of [1, 5, 20, good.length - 1]) {
      expect(() => decode(All, good.subarray(0, cut)), `cut at ${cut}`).toThrow(ProtobufError);
    }
    expect(() => decode(All, unhex("62"))).toThrow(ProtobufError); // string with no length
    expect(() => decode(All, unhex("6202c328"))).toThrow(/UTF-8/); // invalid UTF-8
    expect(() => decode(All, unhex("0b"))).toThrow(ProtobufError); // group wire type
    expect(() => decode(All, unhex("ffffffffffffffffffffff01"))).toThrow(ProtobufError); // 11-byte varint
  });

  it("bytes fields are copies, not views of the input", () => {
    const buf = Buffer.from(encode(All, { by: new Uint8Array([1, 2, 3]) }));
    const d = decode(All, buf);
    buf.fill(0);
    expect([...d.by]).toEqual([1, 2, 3]);
    expect(Object.getPrototypeOf(d.by)).toBe(Uint8Array.prototype); // not a Buffer view
  });
});

describe("well-known types", () => {
  it("Timestamp from and to Date", () => {
    const d = new Date(1700000000005);
    expect(timestampFromDate(d)).toEqual({ seconds: 1700000000, nanos: 5_000_000 });
    expect(dateFromTimestamp({ seconds: 1700000000, nanos: 5_999_999 }).getTime()).toBe(1700000000005);
    expect(timestampFromDate(new Date(-1))).toEqual({ seconds: -1, nanos: 999_000_000 });
    expect(dateFromTimestamp(timestampFromDate(new Date(-1))).getTime()).toBe(-1);
    expect(decode(Timestamp, encode(Timestamp, { seconds: -62135596800, nanos: 0 }))).toEqual({ seconds: -62135596800, nanos: 0 });
  });

  it("Any packs with the bare type name and unpacks with or without a URL prefix", () => {
    const a = packAny(M.TaskOOM, { container_id: "c" });
    expect(a.type_url).toBe("containerd.events.TaskOOM");
    expect(unpackAny(M.TaskOOM, a)).toEqual({ container_id: "c" });
    expect(anyIs(M.TaskOOM, { ...a, type_url: "type.googleapis.com/containerd.events.TaskOOM" })).toBe(true);
    expect(() => unpackAny(M.TaskExit, a)).toThrow(/containerd.events.TaskOOM/);
    expect(decode(Any, encode(Any, a))).toEqual(a);
  });
});

// Reference bytes from `protoc --encode` over .proto text with the same field numbers and types
// as containerd's (TaskExit, ForwardRequest/Envelope, CreateTaskRequest/Mount) and ttrpc's Request.
describe("containerd and ttrpc messages", () => {
  it("TaskExit", () => {
    const v: M.TaskExit = { container_id: "c1", id: "c1", pid: 4242, exit_status: 137, exited_at: { seconds: 1700000000, nanos: 5000000 } };
    const ref = "0a026331120263311892212089012a0b0880e2cfaa0610c096b102";
    expect(hex(encode(M.TaskExit, v))).toBe(ref);
    expect(decode(M.TaskExit, unhex(ref))).toEqual(v);
  });

  it("ForwardRequest with an Envelope holding an Any", () => {
    const v: M.ForwardRequest = {
      envelope: {
        timestamp: { seconds: 1700000000, nanos: 0 },
        namespace: "default",
        topic: "/tasks/exit",
        event: packAny(M.TaskExit, { container_id: "c1" }),
      },
    };
    const ref =
      "0a420a060880e2cfaa06120764656661756c741a0b2f7461736b732f6578697422220a1a636f6e7461696e6572642e6576656e74732e5461736b4578697412040a026331";
    expect(hex(encode(M.ForwardRequest, v))).toBe(ref);
    expect(decode(M.ForwardRequest, unhex(ref))).toEqual(v);
  });

  it("CreateTaskRequest with rootfs mounts and runc options", () => {
    const v: Partial<M.CreateTaskRequest> = {
      id: "ctr",
      bundle: "/b",
      rootfs: [{ type: "overlay", source: "overlay", target: "", options: ["lowerdir=/l", "ro"] }],
      terminal: true,
      stdout: "/o",
      options: packAny(M.RuncOptions, { systemd_cgroup: true }),
    };
    const ref =
      "0a0363747212022f621a230a076f7665726c617912076f7665726c6179220b6c6f7765726469723d2f6c2202726f200132022f6f52200a1a636f6e7461696e6572642e72756e632e76312e4f7074696f6e7312024801";
    expect(hex(encode(M.CreateTaskRequest, v))).toBe(ref);
    const d = decode(M.CreateTaskRequest, unhex(ref));
    expect(d).toMatchObject(v);
    expect(d.stdin).toBe("");
    expect(unpackAny(M.RuncOptions, d.options!)).toMatchObject({ systemd_cgroup: true, binary_name: "", io_uid: 0 });
  });

  it("ttrpc Request with metadata", () => {
    const v: M.Request = {
      service: "containerd.task.v2.Task",
      method: "State",
      payload: encode(M.StateRequest, { id: "x" }),
      timeout_nano: 5_000_000_000,
      metadata: [{ key: "containerd-namespace-ttrpc", value: "default" }],
    };
    const ref =
      "0a17636f6e7461696e6572642e7461736b2e76322e5461736b120553746174651a030a01782080e497d0122a250a1a636f6e7461696e6572642d6e616d6573706163652d7474727063120764656661756c74";
    expect(hex(encode(M.Request, v))).toBe(ref);
    expect(decode(M.Request, unhex(ref))).toEqual(v);
  });

  it("round-trips every task API message and event", () => {
    const ts = { seconds: 1700000000, nanos: 1 };
    const any = { type_url: "x.Y", value: new Uint8Array([1, 2]) };
    const samples: [MessageDesc<any>, Record<string, unknown>][] = [
      [M.CreateTaskRequest, { id: "a", bundle: "b", rootfs: [{ type: "t", source: "s", target: "g", options: ["o"] }], terminal: true, stdin: "i", stdout: "o", stderr: "e", checkpoint: "c", parent_checkpoint: "p", options: any }],
      [M.CreateTaskResponse, { pid: 1 }],
      [M.DeleteRequest, { id: "a", exec_id: "e" }],
      [M.DeleteResponse, { pid: 2, exit_status: 3, exited_at: ts }],
      [M.ExecProcessRequest, { id: "a", exec_id: "e", terminal: true, stdin: "i", stdout: "o", stderr: "e", spec: any }],
      [M.ExecProcessResponse, {}],
      [M.ResizePtyRequest, { id: "a", exec_id: "e", width: 80, height: 24 }],
      [M.StateRequest, { id: "a", exec_id: "e" }],
      [M.StateResponse, { id: "a", bundle: "b", pid: 4, status: M.TaskStatus.PAUSING, stdin: "i", stdout: "o", stderr: "e", terminal: true, exit_status: 255, exited_at: ts, exec_id: "x" }],
      [M.KillRequest, { id: "a", exec_id: "e", signal: 9, all: true }],
      [M.CloseIORequest, { id: "a", exec_id: "e", stdin: true }],
      [M.PidsRequest, { id: "a" }],
      [M.PidsResponse, { processes: [{ pid: 1, info: any }, { pid: 2, info: undefined }] }],
      [M.CheckpointTaskRequest, { id: "a", path: "p", options: any }],
      [M.UpdateTaskRequest, { id: "a", resources: any, annotations: { k: "v", k2: "" } }],
      [M.StartRequest, { id: "a", exec_id: "e" }],
      [M.StartResponse, { pid: 5 }],
      [M.WaitRequest, { id: "a", exec_id: "e" }],
      [M.WaitResponse, { exit_status: 1, exited_at: ts }],
      [M.StatsRequest, { id: "a" }],
      [M.StatsResponse, { stats: any }],
      [M.ConnectRequest, { id: "a" }],
      [M.ConnectResponse, { shim_pid: 1, task_pid: 2, version: "3" }],
      [M.ShutdownRequest, { id: "a", now: true }],
      [M.PauseRequest, { id: "a" }],
      [M.ResumeRequest, { id: "a" }],
      [M.Empty, {}],
      [M.TaskCreate, { container_id: "c", bundle: "b", rootfs: [], io: { stdin: "i", stdout: "o", stderr: "e", terminal: true }, checkpoint: "k", pid: 6 }],
      [M.TaskStart, { container_id: "c", pid: 7 }],
      [M.TaskDelete, { container_id: "c", pid: 8, exit_status: 9, exited_at: ts, id: "i" }],
      [M.TaskExit, { container_id: "c", id: "i", pid: 10, exit_status: 11, exited_at: ts }],
      [M.TaskOOM, { container_id: "c" }],
      [M.TaskExecAdded, { container_id: "c", exec_id: "e" }],
      [M.TaskExecStarted, { container_id: "c", exec_id: "e", pid: 12 }],
      [M.TaskPaused, { container_id: "c" }],
      [M.TaskResumed, { container_id: "c" }],
      [M.TaskCheckpointed, { container_id: "c", checkpoint: "k" }],
      [M.Envelope, { timestamp: ts, namespace: "n", topic: "/t", event: any }],
      [M.RuncOptions, { no_pivot_root: true, no_new_keyring: true, shim_cgroup: "s", io_uid: 1, io_gid: 2, binary_name: "b", root: "r", criu_path: "c", systemd_cgroup: true, criu_image_path: "i", criu_work_path: "w" }],
      [M.Response, { status: { code: 5, message: "m", details: [any] }, payload: new Uint8Array([9]) }],
    ];
    for (const [desc, v] of samples) {
      expect(decode(desc, encode(desc, v)), desc.name).toEqual(v);
    }
  });

  it("names, topics and the events service", () => {
    expect(M.TaskExit.name).toBe("containerd.events.TaskExit");
    expect(M.RuncOptions.name).toBe("containerd.runc.v1.Options");
    expect(M.topicOf(M.TaskExit)).toBe("/tasks/exit");
    expect(M.topicOf(M.TaskExecStarted)).toBe("/tasks/exec-started");
    expect(M.topicOf(M.TaskIO)).toBe("/tasks/?");
    expect(M.EVENTS_SERVICE).toBe("containerd.services.events.ttrpc.v1.Events");
    expect(Object.keys(M.TASK_METHODS)).toHaveLength(17);
  });
});
