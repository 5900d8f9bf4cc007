// The serving shim: the task service on its ttrpc socket, and its events sent to containerd's
// ttrpc address (TTRPC_ADDRESS), in order, as runc's shim sends them.
import { closeSync, rmSync, writeSync } from "node:fs";
import * as M from "./messages.ts";
import { anyIs, decode, encode, packAny, timestampFromDate, type MessageDesc } from "./protobuf.ts";
import { Code, publishEvent, TtrpcClient, TtrpcError, TtrpcServer } from "./ttrpc.ts";
import { TaskService, type ShimEvent } from "./service.ts";
import { taskMetrics } from "./metrics.ts";
import { optionsFromFile, type RuntimeOptions } from "./options.ts";
import type { Logger } from "../runtime/log.ts";
import { READY_FD_ENV, type ShimFlags } from "./main.ts";

export function encodeDeleteResponse(r: { pid: number; exit_status: number; exited_at: Date }): Uint8Array {
  return encode(M.DeleteResponse, { pid: r.pid, exit_status: r.exit_status, exited_at: timestampFromDate(r.exited_at) });
}

/** Events go out one at a time, in the order they happened; a containerd that is away loses them
 * (logged), the shim goes on. */
class Publisher {
  private client: Promise<TtrpcClient> | undefined;
  private queue: Promise<void> = Promise.resolve();
  constructor(private readonly address: string, private readonly namespace: string, private readonly log: Logger) {}

  publish(e: ShimEvent): void {
    const desc = (M as unknown as Record<string, MessageDesc<unknown>>)[e.type];
    if (!desc || !this.address) return;
    const event = { namespace: this.namespace, topic: e.topic, event: packAny(desc, e.event), timestamp: new Date() };
    this.queue = this.queue.then(async () => {
      // A containerd that restarted closed our connection: connect again and resend, a few times
      // (runc's shim requeues an event up to 5 times too).
      for (let attempt = 1; ; attempt++) {
        try {
          this.client ??= TtrpcClient.connect(this.address.replace(/^unix:\/\//, "")).then((c) => {
            c.unref();
            return c;
          });
          await publishEvent(await this.client, event);
          return;
        } catch (err) {
          if (!(err instanceof TtrpcError)) {
            this.client?.then((c) => c.close(), () => {});
            this.client = undefined;
          }
          // An answer from containerd (a refused event) is final; a lost connection is not.
          if (attempt >= 5 || err instanceof TtrpcError) {
            this.log.error(`post event ${e.topic}: ${(err as Error).message}`);
            return;
          }
          await new Promise((r) => setTimeout(r, 50 * attempt));
        }
      }
    });
  }

  async close(): Promise<void> {
    await this.queue;
    if (this.client) (await this.client.catch(() => undefined))?.close();
  }
}

/** CreateTaskRequest.options: runc's options, the ones a runc-like runtime is configured with. */
function runtimeOptions(any: M.Any | undefined): RuntimeOptions {
  if (!any || any.value.length === 0) return {};
  if (anyIs(M.RuncOptions, any)) {
    const o = decode(M.RuncOptions, any.value);
    return { root: o.root, systemd_cgroup: o.systemd_cgroup, no_pivot_root: o.no_pivot_root, no_new_keyring: o.no_new_keyring };
  }
  // What containerd's CRI sends a runtime type other than runc's: a config file, if any.
  if (anyIs(M.RuntimeConfigOptions, any)) {
    const path = decode(M.RuntimeConfigOptions, any.value).config_path;
    if (!path) return {};
    try {
      return optionsFromFile(path);
    } catch (e) {
      throw new TtrpcError(Code.INVALID_ARGUMENT, (e as Error).message);
    }
  }
  throw new TtrpcError(Code.INVALID_ARGUMENT, `unsupported runtime options type ${JSON.stringify(any.type_url)}`);
}

/** `start` waits on a pipe for the word that the socket listens (main.ts READY_FD_ENV). */
function tellStarterReady(): void {
  const fd = Number(process.env[READY_FD_ENV]);
  delete process.env[READY_FD_ENV];
  if (!Number.isInteger(fd) || fd < 3) return;
  try {
    writeSync(fd, "1");
  } catch {}
  try {
    closeSync(fd);
  } catch {}
}

export async function serve(f: ShimFlags, log: Logger): Promise<number> {
  if (!f.socket) throw new Error("the shim serves on -socket PATH (start passes it)");
  const { native } = await import("../native/index.ts");
  // Orphans of a container without a pid namespace of its own come to the shim, as with runc's.
  native.setChildSubreaper(true);
  const publisher = new Publisher(process.env.TTRPC_ADDRESS ?? "", f.namespace, log);
  const server = new TtrpcServer();
  let finished!: () => void;
  const done = new Promise<void>((r) => (finished = r));
  const svc = new TaskService({
    namespace: f.namespace,
    native,
    log,
    publish: (e) => publisher.publish(e),
    // After the answer has gone out.
    onShutdown: () => setTimeout(finished, 10),
  });

  const unimplemented = (what: string) => {
    throw new TtrpcError(Code.UNIMPLEMENTED, `${what} is not supported by tsrunc`);
  };
  type Handler = (req: never) => unknown;
  const handlers: { [K in keyof typeof M.TASK_METHODS]: Handler } = {
    State: (r: M.StateRequest) => svc.state(r),
    Create: (r: M.CreateTaskRequest) => svc.create({ ...r, options: runtimeOptions(r.options) }),
    Start: (r: M.StartRequest) => svc.start(r),
    Delete: (r: M.DeleteRequest) => svc.delete(r),
    Pids: (r: M.PidsRequest) => svc.pids(r),
    Pause: (r: M.PauseRequest) => svc.pause(r),
    Resume: (r: M.ResumeRequest) => svc.resume(r),
    Checkpoint: () => unimplemented("checkpoint"),
    Kill: (r: M.KillRequest) => svc.kill(r),
    Exec: (r: M.ExecProcessRequest) => svc.exec(r),
    ResizePty: (r: M.ResizePtyRequest) => svc.resizePty(r),
    CloseIO: (r: M.CloseIORequest) => svc.closeIO(r),
    Update: (r: M.UpdateTaskRequest) => svc.update(r),
    Wait: (r: M.WaitRequest) => svc.wait(r),
    Stats: (r: M.StatsRequest) => ({ stats: taskMetrics(svc.runtimeOf(r.id), r.id) }),
    Connect: (r: M.ConnectRequest) => svc.connect(r),
    Shutdown: (r: M.ShutdownRequest) => svc.shutdown(r),
  };
  // A shim mostly waits for its containers: once the requests stop for a while, give the memory
  // that start-up and the requests used back (a full collection, then the allocator's scavenge).
  let gcTimer: ReturnType<typeof setTimeout> | undefined;
  const idleGc = () => {
    clearTimeout(gcTimer);
    gcTimer = setTimeout(() => Bun.gc(true), 2000);
    gcTimer.unref?.();
  };
  const methods: Record<string, (req: Uint8Array) => Promise<Uint8Array>> = {};
  for (const [name, { request, response }] of Object.entries(M.TASK_METHODS)) {
    const handler = handlers[name as keyof typeof handlers];
    methods[name] = async (bytes) => {
      idleGc();
      const req = decode(request as MessageDesc<unknown>, bytes);
      log.debug(`${name} ${JSON.stringify(req, (_k, v) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v))}`);
      try {
        // Wait only waits; everything else may call the runtime, whose children the reaper leaves alone.
        const res = name === "Wait" ? await handler(req as never) : await svc.hold(() => handler(req as never));
        return encode(response as MessageDesc<unknown>, (res ?? {}) as never);
      } catch (e) {
        log.debug(`${name} failed: ${(e as Error).message}`);
        if (e instanceof TtrpcError) throw e;
        throw new TtrpcError(Code.UNKNOWN, (e as Error).message);
      }
    };
  }
  server.register(M.TASK_SERVICE, methods);
  // A socket file left by a shim that died: start found nobody answering on it.
  rmSync(f.socket, { force: true });
  await server.listen(f.socket);
  log.debug(`serving ${f.socket}, ${performance.now().toFixed(1)} ms after exec`);
  tellStarterReady();
  // Create comes next: load what it needs (the validator, the plan, seccomp; exec's) while
  // containerd is still busy with `start`'s answer.
  setTimeout(() => void Promise.all([import("../runtime/create.ts"), import("../runtime/exec.ts")]).catch(() => {}), 0);

  const stop = () => finished();
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  await done;
  await server.close();
  rmSync(f.socket, { force: true });
  await publisher.close();
  return 0;
}
