// `ctr task metrics` through tsrunc's shim (its Stats answer, src/shim/metrics.ts) against the same
// container under runc's shim, in a private containerd 1.6 set up as in shim.test.ts. Root only;
// skipped without containerd and ctr.
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { waitFor } from "./helpers.ts";
import {
  cgroupsLeft, clientDescribe, HOOK_TIMEOUT, IMAGE, memoryCgroup, missing, removeImageAndCgroups, run, startContainerdWithImage, tearDown,
  TEST_TIMEOUT,
} from "./client-helpers.ts";

afterAll(removeImageAndCgroups);

const SHIM = resolve("dist/containerd-shim-tsrunc-v2");
const PARENT = "/tsrunc-test/metrics";
const LIMIT = 32 << 20;

type Json = Record<string, unknown>;

/** Every key path of a JSON value ("memory.usage.limit", "cpu.usage.per_cpu[]"), sorted. */
function keyPaths(v: unknown, at = ""): string[] {
  if (Array.isArray(v)) return [...new Set(v.flatMap((x) => keyPaths(x, `${at}[]`)))].sort();
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => [`${at}${at ? "." : ""}${k}`, ...keyPaths(x, `${at}${at ? "." : ""}${k}`)]).sort();
  return [];
}

clientDescribe("containerd 1.6: ctr task metrics through tsrunc's shim", missing("containerd", "ctr", "containerd-shim-runc-v2", "unshare"), () => {
  let dir = "";
  let daemon: ChildProcess | undefined;
  let sock = "";
  const ids: string[] = [];
  const ctr = (args: string[], timeout = 60_000) => run("ctr", ["--address", sock, ...args], timeout);

  beforeAll(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "tsrunc-shim-metrics-")));
    mkdirSync(join(dir, "fifo"));
    sock = join(dir, "containerd.sock");
    const env = { ...process.env, PATH: `${dirname(SHIM)}:${process.env.PATH}` };
    daemon = startContainerdWithImage(dir, sock, env);
  }, HOOK_TIMEOUT);

  afterAll(() => {
    for (const id of ids) {
      ctr(["task", "kill", "-s", "SIGKILL", id]);
      waitFor(() => !/RUNNING/.test(ctr(["task", "ls"]).stdout.split("\n").find((l) => l.startsWith(id + " ")) ?? ""), 5000);
      ctr(["task", "delete", "--force", id]);
      ctr(["container", "delete", id]);
    }
    if (dir) tearDown(dir, daemon?.pid ? [daemon.pid] : [], [...ids.map((id) => `${PARENT}/${id}`), PARENT]);
  }, HOOK_TIMEOUT);

  it(
    "prints what it prints for runc's shim: the same metrics, table and JSON, the limits exact",
    () => {
      const start = (id: string, runtime: string) => {
        ids.push(id);
        const r = ctr(["run", "-d", "--runtime", runtime, "--fifo-dir", join(dir, "fifo"), "--cgroup", `${PARENT}/${id}`, "--memory-limit", String(LIMIT), IMAGE, id, "sleep", "1000"]);
        expect(r.status, r.stderr).toBe(0);
      };
      start("ts", "io.containerd.tsrunc.v2");
      start("rc", "io.containerd.runc.v2");

      const table = (id: string) => {
        const r = ctr(["task", "metrics", id]);
        expect(r.status, r.stderr).toBe(0);
        return r.stdout;
      };
      const json = (id: string): Json => {
        const r = ctr(["task", "metrics", "--format", "json", id]);
        expect(r.status, r.stderr).toBe(0);
        return JSON.parse(r.stdout) as Json;
      };
      const [ts, rc] = [table("ts"), table("rc")];
      const [tsJson, rcJson] = [json("ts"), json("rc")];
      console.log(`tsrunc's shim:\n${ts}\nrunc's shim:\n${rc}`);
      console.log(`tsrunc's shim --format json:\n${JSON.stringify(tsJson)}\nrunc's shim --format json:\n${JSON.stringify(rcJson)}`);

      // The table: same rows; what does not move between two idle sleeps is equal.
      const rows = (t: string) => new Map(t.split("\n").slice(3).filter(Boolean).map((l) => l.trim().split(/\s+/, 2) as [string, string]));
      const [tsRows, rcRows] = [rows(ts), rows(rc)];
      expect([...tsRows.keys()]).toEqual([...rcRows.keys()]);
      const v1 = !memoryCgroup(PARENT).v2;
      const stable = v1 ? ["memory.limit_in_bytes", "pids.current", "pids.limit"] : ["pids.current", "pids.limit", "memory.usage_limit", "memory.swap_limit"];
      for (const k of stable) expect([k, tsRows.get(k)]).toEqual([k, rcRows.get(k)]);
      expect(tsRows.get(v1 ? "memory.limit_in_bytes" : "memory.usage_limit")).toBe(String(LIMIT));

      // The JSON: the same fields, but for counters that may still be zero in one of them (Go's
      // omitempty leaves zeros out: cpu ticks, memory.stat's, blkio's).
      const [tsKeys, rcKeys] = [keyPaths(tsJson), keyPaths(rcJson)];
      const volatile = /^(cpu\.usage\.(kernel|user)|cpu\.throttling\.|memory\.(total_)?(cache|rss|mapped_file|dirty|writeback|pg_|inactive|active|unevictable|rss_huge|anon|file|kernel_stack|slab|sock|shmem|pg|workingset|thp)|blkio|io\.)/;
      expect(tsKeys.filter((k) => !volatile.test(k))).toEqual(rcKeys.filter((k) => !volatile.test(k)));
      // Exact values, the >2^53 "unlimited" of v1 included (read from the cgroup files themselves).
      const mem = memoryCgroup(`${PARENT}/ts`);
      const file = (f: string) => readFileSync(join(mem.dir, f), "utf8").trim();
      const raw = (id: string) => ctr(["task", "metrics", "--format", "json", id]).stdout;
      if (v1) {
        const m = (j: Json) => j.memory as Json;
        expect((m(tsJson).usage as Json).limit).toBe(LIMIT);
        expect(m(tsJson).hierarchical_memory_limit).toBe(m(rcJson).hierarchical_memory_limit);
        expect(tsJson.memory_oom_control).toEqual(rcJson.memory_oom_control);
        expect(tsJson.pids).toEqual(rcJson.pids);
        for (const e of ["swap", "kernel", "kernel_tcp"]) expect([e, (m(tsJson)[e] as Json).limit]).toEqual([e, (m(rcJson)[e] as Json).limit]);
        // JSON.parse rounds past 2^53: the digits themselves, as the cgroup file has them.
        const swapLimit = file("memory.memsw.limit_in_bytes");
        expect(BigInt(swapLimit) > 2n ** 53n).toBe(true);
        expect(raw("ts")).toMatch(new RegExp(`"swap": \\{\\s*"limit": ${swapLimit},`));
        expect(raw("rc")).toMatch(new RegExp(`"swap": \\{\\s*"limit": ${swapLimit},`));
        // memory.stat's counters are the file's. The kernel flushes them lazily (every 2 s): a
        // flush may fall between the two reads, so read until they agree.
        const fields = [["rss", "rss"], ["pg_fault", "pgfault"], ["total_rss", "total_rss"], ["total_pg_fault", "total_pgfault"]];
        const agree = () => {
          const stat = new Map(file("memory.stat").split("\n").map((l) => l.split(" ") as [string, string]));
          const m = json("ts").memory as Json;
          return fields.every(([field, key]) => String(m[field!] ?? 0) === stat.get(key!));
        };
        expect(waitFor(agree, 5000)).toBe(true);
      } else {
        expect(tsJson.pids).toEqual(rcJson.pids);
        expect(raw("ts")).toMatch(/"limit": 18446744073709551615/);
        expect(file("memory.max")).toBe(String(LIMIT));
      }

      // An exited task not yet deleted still answers, from its emptied cgroup, as runc's shim does.
      for (const id of ["ts", "rc"]) expect(ctr(["task", "kill", "-s", "SIGKILL", id]).status).toBe(0);
      const stopped = (id: string) => / STOPPED\s*$/m.test(ctr(["task", "ls"]).stdout.split("\n").find((l) => l.startsWith(id + " ")) ?? "");
      expect(waitFor(() => stopped("ts") && stopped("rc"), 10_000)).toBe(true);
      expect(cgroupsLeft(`${PARENT}/ts`).length).toBeGreaterThan(0);
      const [tsAfter, rcAfter] = [rows(table("ts")), rows(table("rc"))];
      expect([...tsAfter.keys()]).toEqual([...rcAfter.keys()]);
      expect([tsAfter.get("pids.current"), rcAfter.get("pids.current")]).toEqual(["0", "0"]);
    },
    TEST_TIMEOUT,
  );
});
