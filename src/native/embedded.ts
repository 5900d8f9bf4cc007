// Only ever loaded by load.ts inside a `bun build --compile` binary (through a literal require, so
// the bundler includes it). The `type: "file"` import embeds the addon as a file asset: at run time
// ADDON_FILE is a read-only /$bunfs/... path that load.ts copies to a private directory; Bun does
// not dlopen it itself (a plain import of a `.node` would be extracted to $TMPDIR, see load.ts).
// generated/addon-hash.ts is written by scripts/build-native.sh.

// @ts-ignore -- a Bun file import: the default export is the asset's path.
import addonFile from "../../native/tsrunc.node" with { type: "file" };

export { ADDON_HASH, ADDON_SIZE } from "./generated/addon-hash.ts";
export const ADDON_FILE: string = addonFile as unknown as string;
