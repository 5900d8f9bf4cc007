// The hooks of a config.json, as data: which there are and how each is called. Apart from hooks.ts
// (which runs them) so that a command can ask whether there are any without loading the runner.

export const HOOK_NAMES = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** One hook of config.json (validated: path is absolute, timeout > 0). */
export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export function hooksOf(spec: Record<string, any>, name: HookName): Hook[] {
  const list = spec.hooks?.[name];
  return Array.isArray(list) ? list : [];
}

export function hasHooks(spec: Record<string, any>, ...names: HookName[]): boolean {
  return names.some((n) => hooksOf(spec, n).length > 0);
}

/** argv of a hook: its args, or just its path (Go's exec.Cmd with empty Args, as runc runs it). */
export function hookArgv(h: Hook): string[] {
  return h.args?.length ? h.args : [h.path];
}
