// Output of the one-shot commands, written straight to fd 1: the first use of process.stdout costs
// ~3 ms of start-up, and these commands exit right after writing.
import { writeSync } from "node:fs";

export function writeOut(text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(1, buf, off);
    } catch (e) {
      // A non-blocking stdout that is full: wait for room and go on.
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}
