// The build defines TSRUNC_COMMIT (bun build --define); running from source it is unknown.
declare const TSRUNC_COMMIT: string | undefined;

export const VERSION = "0.1.0";
export const SPEC_VERSION = "1.3.0";

export function versionText(): string {
  const commit = typeof TSRUNC_COMMIT === "string" ? TSRUNC_COMMIT : "unknown";
  const bun = (process.versions as Record<string, string | undefined>).bun ?? "none";
  return `tsrunc version ${VERSION}\ncommit: ${commit}\nspec: ${SPEC_VERSION}\nbun: ${bun}\n`;
}
