// The messages the shim speaks, as descriptors for src/shim/protobuf.ts plus their TypeScript types.
// Field numbers and types are those of containerd 1.6's .proto files (runtime/v2/task/shim.proto,
// api/types/{mount,task/task}.proto, api/events/task.proto, api/services/ttrpc/events/v1/events.proto,
// runtime/v2/runc/options/oci.proto), ttrpc's request.proto and google/rpc/status.proto.
// Each message is one exported name: a descriptor (value) and its type, so `decode(TaskExit, b)`
// is a `TaskExit`. A descriptor's `name` is the full proto name, which is also its Any type URL.
//
// Timestamps marked (gogoproto.nullable) = false in containerd (exited_at, Envelope.timestamp) are
// always written by containerd's Go code, the zero time.Time as {seconds: -62135596800, nanos: 0};
// here they are optional like any message field: leave them out and Go reads the zero time.

import { Any, Empty, message, type MessageDesc, Timestamp } from "./protobuf.ts";

export { Any, Empty, Timestamp };

// ---------------------------------------------------------------------------------------------
// ttrpc (github.com/containerd/ttrpc request.proto) and google.rpc.Status

export interface KeyValue { key: string; value: string }
export const KeyValue: MessageDesc<KeyValue> = message("ttrpc.KeyValue", [
  { name: "key", no: 1, type: "string" },
  { name: "value", no: 2, type: "string" },
]);

export interface Request {
  service: string;
  method: string;
  payload: Uint8Array;
  timeout_nano: number;
  metadata: KeyValue[];
}
export const Request: MessageDesc<Request> = message("ttrpc.Request", [
  { name: "service", no: 1, type: "string" },
  { name: "method", no: 2, type: "string" },
  { name: "payload", no: 3, type: "bytes" },
  { name: "timeout_nano", no: 4, type: "int64" },
  { name: "metadata", no: 5, type: "message", message: () => KeyValue, repeated: true },
]);

export interface Status { code: number; message: string; details: Any[] }
export const Status: MessageDesc<Status> = message("google.rpc.Status", [
  { name: "code", no: 1, type: "int32" },
  { name: "message", no: 2, type: "string" },
  { name: "details", no: 3, type: "message", message: () => Any, repeated: true },
]);

export interface Response { status: Status | undefined; payload: Uint8Array }
export const Response: MessageDesc<Response> = message("ttrpc.Response", [
  { name: "status", no: 1, type: "message", message: () => Status },
  { name: "payload", no: 2, type: "bytes" },
]);

// ---------------------------------------------------------------------------------------------
// containerd types

export interface Mount { type: string; source: string; target: string; options: string[] }
export const Mount: MessageDesc<Mount> = message("containerd.types.Mount", [
  { name: "type", no: 1, type: "string" },
  { name: "source", no: 2, type: "string" },
  { name: "target", no: 3, type: "string" },
  { name: "options", no: 4, type: "string", repeated: true },
]);

/** containerd.v1.types.Status (api/types/task/task.proto). */
export const TaskStatus = {
  UNKNOWN: 0,
  CREATED: 1,
  RUNNING: 2,
  STOPPED: 3,
  PAUSED: 4,
  PAUSING: 5,
} as const;
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

export interface ProcessInfo { pid: number; info: Any | undefined }
export const ProcessInfo: MessageDesc<ProcessInfo> = message("containerd.v1.types.ProcessInfo", [
  { name: "pid", no: 1, type: "uint32" },
  { name: "info", no: 2, type: "message", message: () => Any },
]);

// ---------------------------------------------------------------------------------------------
// containerd.task.v2 (runtime/v2/task/shim.proto in 1.6; api/runtime/task/v2/shim.proto later)

/** The ttrpc service name of the task API. */
export const TASK_SERVICE = "containerd.task.v2.Task";

export interface CreateTaskRequest {
  id: string;
  bundle: string;
  rootfs: Mount[];
  terminal: boolean;
  stdin: string;
  stdout: string;
  stderr: string;
  checkpoint: string;
  parent_checkpoint: string;
  options: Any | undefined;
}
export const CreateTaskRequest: MessageDesc<CreateTaskRequest> = message("containerd.task.v2.CreateTaskRequest", [
  { name: "id", no: 1, type: "string" },
  { name: "bundle", no: 2, type: "string" },
  { name: "rootfs", no: 3, type: "message", message: () => Mount, repeated: true },
  { name: "terminal", no: 4, type: "bool" },
  { name: "stdin", no: 5, type: "string" },
  { name: "stdout", no: 6, type: "string" },
  { name: "stderr", no: 7, type: "string" },
  { name: "checkpoint", no: 8, type: "string" },
  { name: "parent_checkpoint", no: 9, type: "string" },
  { name: "options", no: 10, type: "message", message: () => Any },
]);

export interface CreateTaskResponse { pid: number }
export const CreateTaskResponse: MessageDesc<CreateTaskResponse> = message("containerd.task.v2.CreateTaskResponse", [
  { name: "pid", no: 1, type: "uint32" },
]);

export interface DeleteRequest { id: string; exec_id: string }
export const DeleteRequest: MessageDesc<DeleteRequest> = message("containerd.task.v2.DeleteRequest", [
  { name: "id", no: 1, type: "string" },
  { name: "exec_id", no: 2, type: "string" },
]);

export interface DeleteResponse { pid: number; exit_status: number; exited_at: Timestamp | undefined }
export const DeleteResponse: MessageDesc<DeleteResponse> = message("containerd.task.v2.DeleteResponse", [
  { name: "pid", no: 1, type: "uint32" },
  { name: "exit_status", no: 2, type: "uint32" },
  { name: "exited_at", no: 3, type: "message", message: () => Timestamp },
]);

export interface ExecProcessRequest {
  id: string;
  exec_id: string;
  terminal: boolean;
  stdin: string;
  stdout: string;
  stderr: string;
  /** The OCI process spec as JSON: containerd sends type URL "types.containerd.io/opencontainers/runtime-spec/1/Process". */
  spec: Any | undefined;
}
export const ExecProcessRequest: MessageDesc<ExecProcessRequest> = message("containerd.task.v2.ExecProcessRequest", [
  { name: "id", no: 1, type: "string" },
  { name: "exec_id", no: 2, type: "string" },
  { name: "terminal", no: 3, type: "bool" },
  { name: "stdin", no: 4, type: "string" },
  { name: "stdout", no: 5, type: "string" },
  { name: "stderr", no: 6, type: "string" },
  { name: "spec", no: 7, type: "message", message: () => Any },
]);

export type ExecProcessResponse = Record<string, never>;
export const ExecProcessResponse: MessageDesc<ExecProcessResponse> = message("containerd.task.v2.ExecProcessResponse", []);

export interface ResizePtyRequest { id: string; exec_id: string; width: number; height: number }
export const ResizePtyRequest: MessageDesc<ResizePtyRequest> = message("containerd.task.v2.ResizePtyRequest", [
  { name: "id", no: 1, type: "string" },
  { name: "exec_id", no: 2, type: "string" },
  { name: "width", no: 3, type: "uint32" },
  { name: "height", no: 4, type: "uint32" },
]);

export interface StateRequest { id: string; exec_id: string }
export const StateRequest: MessageDesc<StateRequest> = message("containerd.task.v2.StateRequest", [
  { name: "id", no: 1, type: "string" },
  { name: "exec_id", no: 2, type: "string" },
]);

export interface StateResponse {
  id: string;
  bundle: string;
  pid: number;
  status: TaskStatus;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  exit_status: number;
  exited_at: Timestamp | undefined;
  exec_id: string;
}
export const StateResponse: MessageDesc<StateResponse> = message("containerd.task.v2.StateResponse", [
  { name: "id", no: 1, type: "string" },
  { name: "bundle", no: 2, type: "string" },
  { name: "pid", no: 3, type: "uint32" },
  { name: "status", no: 4, type: "enum" },
  { name: "stdin", no: 5, type: "string" },
  { name: "stdout", no: 6, type: "string" },
  { name: "stderr", no: 7, type: "string" },
  { name: "terminal", no: 8, type: "bool" },
  { name: "exit_status", no: 9, type: "uint32" },
  { name: "exited_at", no: 10, type: "message", message: () => Timestamp },
  { name: "exec_id", no: 11, type: "string" },
]);

export interface KillRequest { id: string; exec_id: string; signal: number; all: boolean }
export const KillRequest: MessageDesc<KillRequest> = message("containerd.task.v2.KillRequest", [
  { name: "id", no: 1, type: "string" },
  { name: "exec_id", no: 2, type: "string" },
  { name: "signal", no: 3, type: "uint32" },
  { name: "all", no: 4, type: "bool" },
]);

export interface CloseIORequest { id: string; exec_id: string; stdin: boolean }
export const CloseIORequest: MessageDesc<CloseIORequest> = message("containerd.task.v2.CloseIORequest", [
  { name: "id", no: 1, type: "string" },
  { name: "exec_id", no: 2, type: "string" },
  { name: "stdin", no: 3, type: "bool" },
]);

export interface PidsRequest { id: string }
export const PidsRequest: MessageDesc<PidsRequest> = message("containerd.task.v2.PidsRequest", [
  { name: "id", no: 1, type: "string" },
]);

export interface PidsResponse { processes: ProcessInfo[] }
export const PidsResponse: MessageDesc<PidsResponse> = message("containerd.task.v2.PidsResponse", [
  { name: "processes", no: 1, type: "message", message: () => ProcessInfo, repeated: true },
]);

export interface CheckpointTaskRequest { id: string; path: string; options: Any | undefined }
export const CheckpointTaskRequest: MessageDesc<CheckpointTaskRequest> = message("containerd.task.v2.CheckpointTaskRequest", [
  { name: "id", no: 1, type: "string" },
  { name: "path", no: 2, type: "string" },
  { name: "options", no: 3, type: "message", message: () => Any },
]);

export interface UpdateTaskRequest {
  id: string;
  /** A LinuxResources as JSON: type URL "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources". */
  resources: Any | undefined;
  annotations: Record<string, string>;
}
export const UpdateTaskRequest: MessageDesc<UpdateTaskRequest> = message("containerd.task.v2.UpdateTaskRequest", [
  { name: "id", no: 1, type: "string" },
  { name: "resources", no: 2, type: "message", message: () => Any },
  { name: "annotations", no: 3, type: "map", key: "string", value: "string" },
]);

export interface StartRequest { id: string; exec_id: string }
export const StartRequest: MessageDesc<StartRequest> = message("containerd.task.v2.StartRequest", [
  { name: "id", no: 1, type: "string" },
  { name: "exec_id", no: 2, type: "string" },
]);

export interface StartResponse { pid: number }
export const StartResponse: MessageDesc<StartResponse> = message("containerd.task.v2.StartResponse", [
  { name: "pid", no: 1, type: "uint32" },
]);

export interface WaitRequest { id: string; exec_id: string }
export const WaitRequest: MessageDesc<WaitRequest> = message("containerd.task.v2.WaitRequest", [
  { name: "id", no: 1, type: "string" },
  { name: "exec_id", no: 2, type: "string" },
]);

export interface WaitResponse { exit_status: number; exited_at: Timestamp | undefined }
export const WaitResponse: MessageDesc<WaitResponse> = message("containerd.task.v2.WaitResponse", [
  { name: "exit_status", no: 1, type: "uint32" },
  { name: "exited_at", no: 2, type: "message", message: () => Timestamp },
]);

export interface StatsRequest { id: string }
export const StatsRequest: MessageDesc<StatsRequest> = message("containerd.task.v2.StatsRequest", [
  { name: "id", no: 1, type: "string" },
]);

export interface StatsResponse { stats: Any | undefined }
export const StatsResponse: MessageDesc<StatsResponse> = message("containerd.task.v2.StatsResponse", [
  { name: "stats", no: 1, type: "message", message: () => Any },
]);

export interface ConnectRequest { id: string }
export const ConnectRequest: MessageDesc<ConnectRequest> = message("containerd.task.v2.ConnectRequest", [
  { name: "id", no: 1, type: "string" },
]);

export interface ConnectResponse { shim_pid: number; task_pid: number; version: string }
export const ConnectResponse: MessageDesc<ConnectResponse> = message("containerd.task.v2.ConnectResponse", [
  { name: "shim_pid", no: 1, type: "uint32" },
  { name: "task_pid", no: 2, type: "uint32" },
  { name: "version", no: 3, type: "string" },
]);

export interface ShutdownRequest { id: string; now: boolean }
export const ShutdownRequest: MessageDesc<ShutdownRequest> = message("containerd.task.v2.ShutdownRequest", [
  { name: "id", no: 1, type: "string" },
  { name: "now", no: 2, type: "bool" },
]);

export interface PauseRequest { id: string }
export const PauseRequest: MessageDesc<PauseRequest> = message("containerd.task.v2.PauseRequest", [
  { name: "id", no: 1, type: "string" },
]);

export interface ResumeRequest { id: string }
export const ResumeRequest: MessageDesc<ResumeRequest> = message("containerd.task.v2.ResumeRequest", [
  { name: "id", no: 1, type: "string" },
]);

/** The task service's methods: ttrpc method name → request and response descriptors. */
export const TASK_METHODS = {
  State: { request: StateRequest, response: StateResponse },
  Create: { request: CreateTaskRequest, response: CreateTaskResponse },
  Start: { request: StartRequest, response: StartResponse },
  Delete: { request: DeleteRequest, response: DeleteResponse },
  Pids: { request: PidsRequest, response: PidsResponse },
  Pause: { request: PauseRequest, response: Empty },
  Resume: { request: ResumeRequest, response: Empty },
  Checkpoint: { request: CheckpointTaskRequest, response: Empty },
  Kill: { request: KillRequest, response: Empty },
  Exec: { request: ExecProcessRequest, response: Empty },
  ResizePty: { request: ResizePtyRequest, response: Empty },
  CloseIO: { request: CloseIORequest, response: Empty },
  Update: { request: UpdateTaskRequest, response: Empty },
  Wait: { request: WaitRequest, response: WaitResponse },
  Stats: { request: StatsRequest, response: StatsResponse },
  Connect: { request: ConnectRequest, response: ConnectResponse },
  Shutdown: { request: ShutdownRequest, response: Empty },
} as const;

// ---------------------------------------------------------------------------------------------
// containerd.events (api/events/task.proto). Type URLs are the bare full names ("containerd.events.TaskExit"):
// containerd 1.6's typeurl falls back to the gogo registry name, with no "type.googleapis.com/" prefix.

export interface TaskIO { stdin: string; stdout: string; stderr: string; terminal: boolean }
export const TaskIO: MessageDesc<TaskIO> = message("containerd.events.TaskIO", [
  { name: "stdin", no: 1, type: "string" },
  { name: "stdout", no: 2, type: "string" },
  { name: "stderr", no: 3, type: "string" },
  { name: "terminal", no: 4, type: "bool" },
]);

export interface TaskCreate {
  container_id: string;
  bundle: string;
  rootfs: Mount[];
  io: TaskIO | undefined;
  checkpoint: string;
  pid: number;
}
export const TaskCreate: MessageDesc<TaskCreate> = message("containerd.events.TaskCreate", [
  { name: "container_id", no: 1, type: "string" },
  { name: "bundle", no: 2, type: "string" },
  { name: "rootfs", no: 3, type: "message", message: () => Mount, repeated: true },
  { name: "io", no: 4, type: "message", message: () => TaskIO },
  { name: "checkpoint", no: 5, type: "string" },
  { name: "pid", no: 6, type: "uint32" },
]);

export interface TaskStart { container_id: string; pid: number }
export const TaskStart: MessageDesc<TaskStart> = message("containerd.events.TaskStart", [
  { name: "container_id", no: 1, type: "string" },
  { name: "pid", no: 2, type: "uint32" },
]);

export interface TaskDelete { container_id: string; pid: number; exit_status: number; exited_at: Timestamp | undefined; id: string }
export const TaskDelete: MessageDesc<TaskDelete> = message("containerd.events.TaskDelete", [
  { name: "container_id", no: 1, type: "string" },
  { name: "pid", no: 2, type: "uint32" },
  { name: "exit_status", no: 3, type: "uint32" },
  { name: "exited_at", no: 4, type: "message", message: () => Timestamp },
  { name: "id", no: 5, type: "string" },
]);

export interface TaskExit { container_id: string; id: string; pid: number; exit_status: number; exited_at: Timestamp | undefined }
export const TaskExit: MessageDesc<TaskExit> = message("containerd.events.TaskExit", [
  { name: "container_id", no: 1, type: "string" },
  { name: "id", no: 2, type: "string" },
  { name: "pid", no: 3, type: "uint32" },
  { name: "exit_status", no: 4, type: "uint32" },
  { name: "exited_at", no: 5, type: "message", message: () => Timestamp },
]);

export interface TaskOOM { container_id: string }
export const TaskOOM: MessageDesc<TaskOOM> = message("containerd.events.TaskOOM", [
  { name: "container_id", no: 1, type: "string" },
]);

export interface TaskExecAdded { container_id: string; exec_id: string }
export const TaskExecAdded: MessageDesc<TaskExecAdded> = message("containerd.events.TaskExecAdded", [
  { name: "container_id", no: 1, type: "string" },
  { name: "exec_id", no: 2, type: "string" },
]);

export interface TaskExecStarted { container_id: string; exec_id: string; pid: number }
export const TaskExecStarted: MessageDesc<TaskExecStarted> = message("containerd.events.TaskExecStarted", [
  { name: "container_id", no: 1, type: "string" },
  { name: "exec_id", no: 2, type: "string" },
  { name: "pid", no: 3, type: "uint32" },
]);

export interface TaskPaused { container_id: string }
export const TaskPaused: MessageDesc<TaskPaused> = message("containerd.events.TaskPaused", [
  { name: "container_id", no: 1, type: "string" },
]);

export interface TaskResumed { container_id: string }
export const TaskResumed: MessageDesc<TaskResumed> = message("containerd.events.TaskResumed", [
  { name: "container_id", no: 1, type: "string" },
]);

export interface TaskCheckpointed { container_id: string; checkpoint: string }
export const TaskCheckpointed: MessageDesc<TaskCheckpointed> = message("containerd.events.TaskCheckpointed", [
  { name: "container_id", no: 1, type: "string" },
  { name: "checkpoint", no: 2, type: "string" },
]);

/** Event topics (containerd runtime/events.go), keyed by the event's descriptor name. */
export const EVENT_TOPICS: Readonly<Record<string, string>> = {
  [TaskCreate.name]: "/tasks/create",
  [TaskStart.name]: "/tasks/start",
  [TaskOOM.name]: "/tasks/oom",
  [TaskExit.name]: "/tasks/exit",
  [TaskDelete.name]: "/tasks/delete",
  [TaskExecAdded.name]: "/tasks/exec-added",
  [TaskExecStarted.name]: "/tasks/exec-started",
  [TaskPaused.name]: "/tasks/paused",
  [TaskResumed.name]: "/tasks/resumed",
  [TaskCheckpointed.name]: "/tasks/checkpointed",
};

/** The topic of an event message, "/tasks/?" (containerd's unknown topic) for anything else. */
export function topicOf(desc: MessageDesc<unknown>): string {
  return EVENT_TOPICS[desc.name] ?? "/tasks/?";
}

// ---------------------------------------------------------------------------------------------
// containerd.services.events.ttrpc.v1 (api/services/ttrpc/events/v1/events.proto): the service
// containerd serves on "<address>.ttrpc" for shims to publish events.

export const EVENTS_SERVICE = "containerd.services.events.ttrpc.v1.Events";
export const EVENTS_FORWARD = "Forward";

export interface Envelope { timestamp: Timestamp | undefined; namespace: string; topic: string; event: Any | undefined }
export const Envelope: MessageDesc<Envelope> = message("containerd.services.events.ttrpc.v1.Envelope", [
  { name: "timestamp", no: 1, type: "message", message: () => Timestamp },
  { name: "namespace", no: 2, type: "string" },
  { name: "topic", no: 3, type: "string" },
  { name: "event", no: 4, type: "message", message: () => Any },
]);

export interface ForwardRequest { envelope: Envelope | undefined }
export const ForwardRequest: MessageDesc<ForwardRequest> = message("containerd.services.events.ttrpc.v1.ForwardRequest", [
  { name: "envelope", no: 1, type: "message", message: () => Envelope },
]);

// ---------------------------------------------------------------------------------------------
// runc shim options (runtime/v2/runc/options/oci.proto), CreateTaskRequest.options' usual content.

export interface RuncOptions {
  no_pivot_root: boolean;
  no_new_keyring: boolean;
  shim_cgroup: string;
  io_uid: number;
  io_gid: number;
  binary_name: string;
  root: string;
  criu_path: string;
  systemd_cgroup: boolean;
  criu_image_path: string;
  criu_work_path: string;
}
/** Type URL "containerd.runc.v1.Options". */
export const RuncOptions: MessageDesc<RuncOptions> = message("containerd.runc.v1.Options", [
  { name: "no_pivot_root", no: 1, type: "bool" },
  { name: "no_new_keyring", no: 2, type: "bool" },
  { name: "shim_cgroup", no: 3, type: "string" },
  { name: "io_uid", no: 4, type: "uint32" },
  { name: "io_gid", no: 5, type: "uint32" },
  { name: "binary_name", no: 6, type: "string" },
  { name: "root", no: 7, type: "string" },
  { name: "criu_path", no: 8, type: "string" },
  { name: "systemd_cgroup", no: 9, type: "bool" },
  { name: "criu_image_path", no: 10, type: "string" },
  { name: "criu_work_path", no: 11, type: "string" },
]);

// containerd's generic runtime options (pkg/runtimeoptions/v1/api.proto): what containerd's CRI
// and `ctr run --runtime-config-path` send a runtime that is not runc's shim.
export interface RuntimeConfigOptions {
  type_url: string;
  config_path: string;
}
/** Type URL "runtimeoptions.v1.Options". */
export const RuntimeConfigOptions: MessageDesc<RuntimeConfigOptions> = message("runtimeoptions.v1.Options", [
  { name: "type_url", no: 1, type: "string" },
  { name: "config_path", no: 2, type: "string" },
]);
