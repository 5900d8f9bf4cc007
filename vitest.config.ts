import { defineConfig } from "vitest/config";

// Unit tests (test/unit) need no root and use the fake native boundary; end-to-end tests (test/e2e)
// run the compiled dist/tsrunc as root against real bundles, one file at a time to keep the host calm.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    fileParallelism: false,
    pool: "forks",
  },
});
