// The shim's command line (Go's flag package, as containerd calls every shim) and its socket
// address (containerd 1.6's shim.SocketAddress: /run/containerd/s/<sha256 of address/ns/group>).
import { describe, expect, it } from "vitest";
import { parseShimFlags, shimSocketPath } from "../../src/shim/main.ts";

describe("shim command line", () => {
  it("reads containerd's start and delete invocations", () => {
    expect(parseShimFlags(["-namespace", "k8s.io", "-address", "/run/containerd/containerd.sock", "-publish-binary", "/usr/bin/containerd", "-id", "abc", "-debug", "start"])).toEqual({
      namespace: "k8s.io",
      address: "/run/containerd/containerd.sock",
      publishBinary: "/usr/bin/containerd",
      id: "abc",
      bundle: "",
      socket: "",
      debug: true,
      version: false,
      action: "start",
    });
    const del = parseShimFlags(["--namespace=default", "-id=x", "-bundle", "/b", "delete"]);
    expect([del.namespace, del.id, del.bundle, del.action, del.debug]).toEqual(["default", "x", "/b", "delete", false]);
    expect(parseShimFlags(["-v"]).version).toBe(true);
    expect(parseShimFlags(["-debug=false", "-namespace", "n"]).debug).toBe(false);
    // Parsing stops at the first argument that is not a flag, and after "--".
    expect(parseShimFlags(["-namespace", "n", "start", "-id", "late"]).id).toBe("");
    expect(parseShimFlags(["--", "-id"]).action).toBe("-id");
  });

  it("refuses what Go's flag package refuses, in its words", () => {
    expect(() => parseShimFlags(["-bogus"])).toThrow("flag provided but not defined: -bogus");
    expect(() => parseShimFlags(["-namespace"])).toThrow("flag needs an argument: -namespace");
    expect(() => parseShimFlags(["-debug=maybe"])).toThrow('invalid boolean value "maybe" for -debug');
  });

  it("puts the socket where containerd 1.6 looks for it", () => {
    // sha256("/run/containerd/containerd.sock/k8s.io/abc"), from sha256sum(1)
    expect(shimSocketPath("/run/containerd/containerd.sock", "k8s.io", "abc")).toBe(
      "/run/containerd/s/a99a1752d3a0fadfb1f869026f16760475df03a572e20f4ccea9e6c1e5470b72",
    );
  });
});
