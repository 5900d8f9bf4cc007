// A task's stdio as containerd's runc shim gives it: containerd (ctr, CRI) hands the shim fifo
// paths; the process gets pipes (or a pty), and the shim copies between them and the fifos, so a
// reader that goes away never breaks the process, and CloseIO can end its stdin.
//
// The copies read with Bun's file streams, which wait for fifos, pipes and ptys in the event loop
// (node's fs streams read them on worker threads and block there: a quiet stdin stalled every other
// copy), and write non-blocking fds directly (Bun's file writer keeps a duplicate of the fd open,
// which would hold back the reader's EOF).
import { closeSync, openSync, writeSync, constants as fsc } from "node:fs";
import type { Native } from "../native/types.ts";
import { errnoMessage } from "../runtime/errno.ts";

export interface StdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** A fifo containerd named that cannot be opened: said as runc's shim says it, not as a runtime
 * failure. */
export class StdioError extends Error {}

function openOrSay(path: string, flags: number, what: (p: string) => string): number {
  try {
    return openSync(path, flags);
  } catch (e) {
    // containerd's fifo package stats the path first: that is the error runc's shim passes on.
    const why = (e as { code?: string }).code === "ENOENT" ? `stat ${path}: ${errnoMessage(e)}` : `open ${path}: ${errnoMessage(e)}`;
    throw new StdioError(`${what(path)}: ${why}`);
  }
}

/** Open an output fifo without waiting for its reader (read-write never waits on Linux),
 * non-blocking for the event loop (node opens everything close-on-exec). */
function openFifo(path: string): number {
  return openOrSay(path, fsc.O_RDWR | fsc.O_NONBLOCK, (p) => `containerd-shim: opening w/o fifo ${JSON.stringify(p)} failed`);
}

/** Open the stdin fifo for reading only: its EOF (the client closed its end) is the process's. The
 * reader waits in epoll, which reports nothing until a writer has come, so a client that opens its
 * end later loses nothing. */
function openStdinFifo(path: string): number {
  return openOrSay(path, fsc.O_RDONLY | fsc.O_NONBLOCK, (p) => `failed to open stdin fifo ${p}`);
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {}
}

/** Write all of data to a non-blocking fd, waiting while it is full. */
async function writeAll(fd: number, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) {
    try {
      off += writeSync(fd, data, off);
    } catch (e) {
      if ((e as { code?: string }).code !== "EAGAIN") throw e;
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}

/** Copies from one fd to a non-blocking one until the source ends (EOF, or EIO of a pty whose other
 * side closed) or stop() is called. Neither fd is closed here. */
class Copy {
  readonly done: Promise<void>;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  constructor(from: number, to: number) {
    const reader = Bun.file(from).stream().getReader();
    this.reader = reader;
    this.done = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          await writeAll(to, value);
        }
      } catch {
        // EIO from a pty, EPIPE: the copy is over
      }
    })();
  }
  async stop(): Promise<void> {
    try {
      await this.reader.cancel();
    } catch {}
    await this.done;
  }
}

export class TaskIo {
  /** The process's 0, 1 and 2, to pass to the runtime (closed here once it has them). */
  readonly childFds: [number, number, number] | undefined;
  /** Our ends of the child's fds, closed by releaseChildFds. */
  private readonly childEnds: number[] = [];
  /** Fds of ours: fifos, pipe ends, the pty master. */
  private readonly fds: number[] = [];
  private readonly outputs: Copy[] = [];
  private stdin?: { copy: Copy; sink: number };
  private master?: number;

  /** Pipes for a process without a terminal; for one with a terminal nothing yet (attachConsole). */
  constructor(private readonly native: Native, readonly paths: StdioPaths) {
    if (paths.terminal) return;
    try {
      const devnull = () => {
        const fd = openSync("/dev/null", fsc.O_RDWR);
        this.childEnds.push(fd);
        return fd;
      };
      let fd0: number;
      if (paths.stdin) {
        const [r, w] = native.pipe();
        this.childEnds.push(r);
        this.fds.push(w);
        native.setNonblocking(w);
        const fifo = openStdinFifo(paths.stdin);
        this.fds.push(fifo);
        const copy = new Copy(fifo, w);
        this.stdin = { copy, sink: w };
        // The client's stdin ended: so does the process's.
        void copy.done.then(() => this.closeStdin());
        fd0 = r;
      } else fd0 = devnull();
      const out = (path: string) => {
        if (!path) return devnull();
        const [r, w] = native.pipe();
        this.childEnds.push(w);
        this.fds.push(r);
        this.output(r, openFifo(path));
        return w;
      };
      const fd1 = out(paths.stdout);
      // One fifo for both (ctr's are separate; another client's may not be): one pipe too.
      const fd2 = paths.stderr && paths.stderr === paths.stdout ? fd1 : out(paths.stderr);
      this.childFds = [fd0, fd1, fd2];
    } catch (e) {
      void this.close();
      throw e;
    }
  }

  /** The process has its copies of childFds: close ours, so its exit ends the output. */
  releaseChildFds(): void {
    for (const fd of this.childEnds.splice(0)) closeQuietly(fd);
  }

  /** A terminal's pty master: input from the stdin fifo, output to the stdout fifo. */
  attachConsole(master: number): void {
    this.master = master;
    this.fds.push(master);
    this.native.setNonblocking(master);
    if (this.paths.stdin) {
      const fifo = openStdinFifo(this.paths.stdin);
      this.fds.push(fifo);
      this.stdin = { copy: new Copy(fifo, master), sink: -1 };
    }
    if (this.paths.stdout) {
      this.output(master, openFifo(this.paths.stdout));
    }
  }

  /** Copy an output into its fifo, which is closed at the end: the reader's EOF. */
  private output(from: number, fifo: number): void {
    this.fds.push(fifo);
    const c = new Copy(from, fifo);
    this.outputs.push(c);
    void c.done.then(() => {
      const i = this.fds.indexOf(fifo);
      if (i < 0) return;
      this.fds.splice(i, 1);
      closeQuietly(fifo);
    });
  }

  resize(width: number, height: number): void {
    if (this.master === undefined) throw new Error("the process has no terminal");
    this.native.setWinsize(this.master, height, width);
  }

  /** CloseIO: the process's stdin ends. A pipe's write end closes (EOF); a pty gets nothing, as
   * with runc's shim. */
  async closeStdin(): Promise<void> {
    const s = this.stdin;
    if (!s) return;
    this.stdin = undefined;
    await s.copy.stop();
    if (s.sink >= 0) {
      this.fds.splice(this.fds.indexOf(s.sink), 1);
      closeQuietly(s.sink);
    }
  }

  /** Resolves when the output copies have ended (the process and its children closed their side),
   * or after timeoutMs. */
  async drained(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(this.outputs.map((c) => c.done)), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Stop every copy and close everything (delete). */
  async close(): Promise<void> {
    this.releaseChildFds();
    await Promise.all([this.stdin?.copy.stop(), ...this.outputs.map((c) => c.stop())]);
    this.stdin = undefined;
    for (const fd of this.fds.splice(0)) closeQuietly(fd);
    this.master = undefined;
  }
}
