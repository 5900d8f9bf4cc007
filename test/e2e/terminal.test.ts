// process.terminal: a pty proxied to the user's terminal by a foreground run, or handed over a
// console socket with SCM_RIGHTS (what containerd, podman and Docker rely on). Root only.
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { bundleFactory, errors, haveBinary, isRoot, runc, tsrunc, TSRUNC } from "./helpers.ts";

const bundle = bundleFactory();

/** console-receiver.py listening on `sock`; `output` is what it printed once the pty closed. */
async function consoleReceiver(sock: string): Promise<{ output: Promise<string> }> {
  const receiver = spawn("python3", [join(__dirname, "console-receiver.py"), sock], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  receiver.stdout.on("data", (d) => (out += d));
  await new Promise<void>((resolve) => receiver.stdout.once("data", () => resolve()));
  return { output: new Promise<string>((resolve) => receiver.on("exit", () => resolve(out))) };
}

describe.skipIf(!isRoot || !haveBinary)("terminal", () => {
  it("tsrunc run gives an interactive shell on a real pty", () => {
    const b = bundle((c) => {
      c.process.terminal = true;
      c.process.args = ["sh"];
      // the caller's terminal's size replaces it once the runtime proxies the pty (as runc)
      c.process.consoleSize = { height: 33, width: 111 };
    });
    const r = spawnSync(
      "python3",
      [join(__dirname, "pty-driver.py"), "31", "97", "echo answer=$((6*7)); stty size; tty; exit 5\\n", TSRUNC, "--root", b.root, "run", b.id],
      { cwd: b.dir, encoding: "utf8", timeout: 30_000 },
    );
    expect(r.stdout).toContain("answer=42");
    expect(r.stdout).toContain("31 97");
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+/);
    expect(r.status).toBe(5);
  });

  it("sends the pty master over --console-socket", async () => {
    const b = bundle((c) => {
      c.process.terminal = true;
      c.process.args = ["sh", "-c", "echo on-$(tty)"];
    });
    const sock = join(b.dir, "console.sock");
    const receiver = spawn("python3", [join(__dirname, "console-receiver.py"), sock], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    receiver.stdout.on("data", (d) => (out += d));
    await new Promise<void>((resolve) => receiver.stdout.once("data", () => resolve()));
    const c = tsrunc(b, ["create", "--console-socket", sock, b.id]);
    expect(c.stderr).toBe("");
    expect(c.status).toBe(0);
    expect(tsrunc(b, ["start", b.id]).status).toBe(0);
    const code = await new Promise<number | null>((resolve) => receiver.on("exit", resolve));
    expect(code).toBe(0);
    expect(out).toContain("received 1 fd(s)");
    expect(out).toMatch(/on-\/dev\/pts\/\d+/);
  });

  it("sizes the pty from process.consoleSize, for the container and for exec, as runc does", async () => {
    for (const rt of [tsrunc, runc]) {
      const b = bundle((c) => {
        c.process.terminal = true;
        c.process.consoleSize = { height: 33, width: 111 };
        c.process.args = ["sh", "-c", "stty size"];
      });
      const sock = join(b.dir, "console.sock");
      const got = await consoleReceiver(sock);
      expect(rt(b, ["create", "--console-socket", sock, b.id]).status).toBe(0);
      expect(rt(b, ["start", b.id]).status).toBe(0);
      expect(await got.output).toContain("33 111");

      // exec into a running container (no terminal of its own): a process.json's consoleSize, or
      // with -t the container's, which the flags start from
      const r = bundle((c) => {
        c.process.consoleSize = { height: 33, width: 111 };
        c.process.args = ["sleep", "1000"];
      });
      expect(rt(r, ["run", "-d", r.id]).status).toBe(0);
      const processJson = join(r.dir, "process.json");
      writeFileSync(processJson, JSON.stringify({ ...r.config.process, terminal: true, consoleSize: { height: 44, width: 122 }, args: ["stty", "size"] }));
      for (const [args, size] of [
        [["--process", processJson], "44 122"],
        [["-t", r.id, "stty", "size"], "33 111"],
      ] as const) {
        const s = join(r.dir, `exec-${size.replace(" ", "x")}.sock`);
        const out = await consoleReceiver(s);
        const e = rt(r, ["exec", "-d", "--console-socket", s, ...(args[0] === "--process" ? [...args, r.id] : args)]);
        expect(e.stderr).toBe("");
        expect(e.status).toBe(0);
        expect(await out.output).toContain(size);
      }
    }
  });

  it("fails a foreground terminal without the caller's as runc does, starting and leaving nothing", () => {
    // stdio files, no controlling terminal: runc finds no terminal to put in raw mode
    const none = { newSession: true, timeout: 10_000 };
    for (const rt of [tsrunc, runc]) {
      const name = rt === tsrunc ? "tsrunc" : "runc";
      const b = bundle((c) => {
        c.process.terminal = true;
        c.process.args = ["sleep", "500"];
      });
      let r = rt(b, ["run", b.id], none);
      expect(errors(r)).toBe(`${name} run failed: open /dev/tty: no such device or address`);
      expect(r.status).toBe(1);
      expect(errors(rt(b, ["state", b.id]))).toBe("container does not exist");

      const running = bundle((c) => (c.process.args = ["sleep", "1000"]));
      expect(rt(running, ["run", "-d", running.id]).status).toBe(0);
      r = rt(running, ["exec", "-t", running.id, "sleep", "500"], none);
      expect(errors(r)).toBe("exec failed: open /dev/tty: no such device or address");
      expect(r.status).toBe(255);
      r = rt(running, ["ps", "--format", "json", running.id]);
      expect(JSON.parse(r.stdout)).toEqual([JSON.parse(rt(running, ["state", running.id]).stdout).pid]);
    }
  });

  it("refuses a terminal when detached without a console socket", () => {
    const b = bundle((c) => (c.process.terminal = true));
    const r = tsrunc(b, ["create", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toContain("cannot allocate tty");
  });
});
