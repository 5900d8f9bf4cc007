// Interop of src/shim's ttrpc client and messages with a real containerd 1.6: a private instance
// (its own root, state and sockets under a temp dir; /run a private tmpfs in its own mount
// namespace, as clients.test.ts starts it) is sent events on its "<address>.ttrpc" socket as a shim
// sends them, and `ctr events` must show them. Root only; skipped without containerd and ctr.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packAny } from "../../src/shim/protobuf.ts";
import * as M from "../../src/shim/messages.ts";
import { Code, publishEvent, TtrpcClient } from "../../src/shim/ttrpc.ts";
import { alive, missing, startContainerd, stopPids } from "./client-helpers.ts";

const why = missing("containerd", "ctr", "unshare");
if (why) console.warn(`shim-events.test.ts skipped: ${why}`);

describe.skipIf(why !== null)(why ? `containerd events over ttrpc (skipped: ${why})` : "containerd events over ttrpc", () => {
  let dir = "";
  let sock = "";
  let daemon: ChildProcess | undefined;
  let events: ChildProcess | undefined;
  let seen = "";
  let client: TtrpcClient | undefined;

  beforeAll(async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "tsrunc-ttrpc-ctd-")));
    sock = join(dir, "containerd.sock");
    daemon = startContainerd(dir, sock);
    events = spawn("ctr", ["--address", sock, "events"], { stdio: ["ignore", "pipe", "pipe"] });
    events.stdout!.on("data", (d: Buffer) => (seen += d.toString()));
    client = await TtrpcClient.connect(`${sock}.ttrpc`);
  }, 60_000);

  afterAll(() => {
    client?.close();
    stopPids([events?.pid, daemon?.pid].filter((p): p is number => !!p));
    if (daemon?.pid) expect(alive(daemon.pid)).toBe(false);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("forwards a TaskExit that `ctr events` shows, decoded", async () => {
    const exit = { container_id: "ttrpc-interop", id: "ttrpc-interop", pid: 4242, exit_status: 137, exited_at: { seconds: 1700000000, nanos: 0 } };
    // ctr subscribes asynchronously: publish until it has seen one (each a distinct pid).
    const end = Date.now() + 15_000;
    let n = 0;
    while (!seen.includes("ttrpc-interop") && Date.now() < end) {
      await publishEvent(client!, { namespace: "tsrunc-test", topic: M.topicOf(M.TaskExit), event: packAny(M.TaskExit, { ...exit, pid: 4242 + n++ }) });
      await new Promise((r) => setTimeout(r, 200));
    }
    const line = seen.split("\n").find((l) => l.includes("ttrpc-interop")) ?? "";
    expect(line).toMatch(/ tsrunc-test \/tasks\/exit /);
    expect(line).toContain('"container_id":"ttrpc-interop"');
    expect(line).toMatch(/"pid":42\d\d/);
    expect(line).toContain('"exit_status":137');
  });

  it("gets containerd's statuses back: a bad topic is INVALID_ARGUMENT, an unknown method UNIMPLEMENTED", async () => {
    await expect(
      publishEvent(client!, { namespace: "tsrunc-test", topic: "tasks/exit", event: packAny(M.TaskOOM, { container_id: "x" }) }),
    ).rejects.toMatchObject({ code: Code.INVALID_ARGUMENT });
    await expect(client!.call(M.EVENTS_SERVICE, "Nope", new Uint8Array(0))).rejects.toMatchObject({ code: Code.UNIMPLEMENTED, message: "method Nope" });
    await expect(client!.call("no.Such", "Forward", new Uint8Array(0))).rejects.toMatchObject({ code: Code.UNIMPLEMENTED, message: "service no.Such" });
  });
});
