//! The functions exported to JavaScript. Each is one system call (or one small group of them) with
//! no policy; src/native/index.ts wraps them into the `Native` interface. Results are returned as
//! plain arrays of numbers where that is simplest, and index.ts shapes them.

use crate::napi::*;
use crate::sys::*;
use core::ffi::{c_char, c_int, c_long, c_void};
use core::ptr;

fn done(env: napi_env, r: JsResult<napi_value>) -> napi_value {
    match r {
        Ok(v) => v,
        Err(Thrown) => {
            let _ = env;
            ptr::null_mut()
        }
    }
}

macro_rules! js_fn {
    ($name:ident, $body:ident) => {
        pub unsafe extern "C" fn $name(env: napi_env, info: napi_callback_info) -> napi_value {
            let a = args(env, info);
            done(env, $body(env, &a))
        }
    };
}

/// struct clone_args (linux/sched.h), CLONE_ARGS_SIZE_VER2: libc 0.2.139 has no type for it.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// spawnInit(plan: Uint8Array, cgroupFd: number) -> [pid, pidfd, sock, inCgroup]
/// cgroupFd >= 0: the child is born in that cgroup v2 directory (clone3 CLONE_INTO_CGROUP), so
/// nobody has to write it into cgroup.procs; on a kernel without clone3 it is an ordinary clone and
/// inCgroup says 0.
fn spawn_init_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let bytes = arg_bytes(env, a[0], "plan")?;
    let cgroup_fd = arg_i32(env, a[1], "cgroupFd")?;
    let plan = crate::plan::parse(bytes).map_err(|e| throw_plain(env, "EINVAL", &format!("spawnInit: bad plan: {}", e)))?;
    let mut sv = [-1 as c_int; 2];
    let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) };
    if r < 0 {
        return Err(throw_errno(env, "socketpair", errno()));
    }
    let mut pidfd: c_int = -1;
    let mut in_cgroup = 0;
    // No new stack: fork semantics. The child gets a copy of this thread and of `plan`.
    let mut pid: c_long = -1;
    let mut e = 0;
    if cgroup_fd >= 0 {
        let args = CloneArgs {
            flags: plan.clone_flags | libc::CLONE_PIDFD as u64 | CLONE_INTO_CGROUP,
            pidfd: &mut pidfd as *mut c_int as u64,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: cgroup_fd as u64,
            ..Default::default()
        };
        pid = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, core::mem::size_of::<CloneArgs>()) };
        if pid == 0 {
            unsafe { crate::child::run(&plan, sv[1], sv[0]) }
        }
        e = errno();
        if pid > 0 {
            in_cgroup = 1;
        }
    }
    // ENOSYS: no clone3 (Linux < 5.3); E2BIG: no CLONE_INTO_CGROUP (< 5.7). Other errors are real.
    if cgroup_fd < 0 || (pid < 0 && (e == libc::ENOSYS || e == libc::E2BIG)) {
        let flags = plan.clone_flags | libc::CLONE_PIDFD as u64 | libc::SIGCHLD as u64;
        pid = unsafe { libc::syscall(libc::SYS_clone, flags as c_long, 0usize, &mut pidfd as *mut c_int, 0usize, 0usize) };
        if pid == 0 {
            unsafe { crate::child::run(&plan, sv[1], sv[0]) }
        }
        e = errno();
    }
    unsafe { close(sv[1]) };
    if pid < 0 {
        unsafe { close(sv[0]) };
        return Err(throw_errno(env, if cgroup_fd >= 0 { "clone3" } else { "clone" }, e));
    }
    Ok(int_array(env, &[pid as i32, pidfd, sv[0], in_cgroup]))
}
js_fn!(spawn_init, spawn_init_impl);

/// recvMessage(sock) -> [kind, a, b]; kind 0 = EOF.
fn recv_message_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let sock = arg_i32(env, a[0], "sock")?;
    let mut buf = [0u8; 16];
    let n = loop {
        let r = unsafe { libc::recv(sock, buf.as_mut_ptr() as *mut c_void, buf.len(), 0) };
        if r < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(throw_errno(env, "recv", e));
        }
        break r as usize;
    };
    if n == 0 {
        return Ok(int_array(env, &[0, 0, 0]));
    }
    if n != 12 {
        return Err(throw_plain(env, "EPROTO", &format!("recvMessage: unexpected {}-byte message", n)));
    }
    let w = |i: usize| u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]) as i32;
    Ok(int_array(env, &[w(0), w(4), w(8)]))
}
js_fn!(recv_message, recv_message_impl);

/// reply(sock, value): one little-endian u32.
fn reply_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let sock = arg_i32(env, a[0], "sock")?;
    let v = arg_u32(env, a[1], "value")?;
    let b = v.to_le_bytes();
    loop {
        let r = unsafe { libc::send(sock, b.as_ptr() as *const c_void, 4, libc::MSG_NOSIGNAL) };
        if r < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(throw_errno(env, "send", e));
        }
        return Ok(undefined(env));
    }
}
js_fn!(reply, reply_impl);

/// [si_code, si_status] from a waitid() siginfo.
fn status_pair(info: &libc::siginfo_t) -> [i32; 2] {
    unsafe { [info.si_code, info.si_status()] }
}

unsafe fn waitid(idtype: c_int, id: c_int, options: c_int) -> Result<libc::siginfo_t, c_int> {
    loop {
        let mut info: libc::siginfo_t = core::mem::zeroed();
        let r = libc::syscall(libc::SYS_waitid, idtype as c_long, id as c_long, &mut info as *mut libc::siginfo_t, options as c_long, 0usize);
        if r < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        return Ok(info);
    }
}

struct WaitWork {
    pidfd: c_int,
    work: napi_async_work,
    deferred: napi_deferred,
    result: Result<[i32; 2], c_int>,
}

unsafe extern "C" fn wait_execute(_env: napi_env, data: *mut c_void) {
    let w = &mut *(data as *mut WaitWork);
    w.result = waitid(libc::P_PIDFD as c_int, w.pidfd, libc::WEXITED).map(|i| status_pair(&i));
}

unsafe extern "C" fn wait_complete(env: napi_env, _status: napi_status, data: *mut c_void) {
    let w = Box::from_raw(data as *mut WaitWork);
    match w.result {
        Ok(pair) => napi_resolve_deferred(env, w.deferred, int_array(env, &pair)),
        Err(e) => napi_reject_deferred(env, w.deferred, errno_error(env, "waitid", e)),
    };
    napi_delete_async_work(env, w.work);
}

/// waitPidfd(pidfd) -> Promise<[si_code, si_status]>, waitid(P_PIDFD, WEXITED) on a worker thread.
fn wait_pidfd_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let pidfd = arg_i32(env, a[0], "pidfd")?;
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    if unsafe { napi_create_promise(env, &mut deferred, &mut promise) } != NAPI_OK {
        return Err(throw_plain(env, "ENOMEM", "waitPidfd: napi_create_promise failed"));
    }
    let w = Box::into_raw(Box::new(WaitWork { pidfd, work: ptr::null_mut(), deferred, result: Err(libc::EINVAL) }));
    unsafe {
        let name = string(env, "tsrunc.waitPidfd");
        let st = napi_create_async_work(env, ptr::null_mut(), name, wait_execute, wait_complete, w as *mut c_void, &mut (*w).work);
        if st != NAPI_OK || napi_queue_async_work(env, (*w).work) != NAPI_OK {
            let w = Box::from_raw(w);
            napi_reject_deferred(env, w.deferred, errno_error(env, "napi_queue_async_work", libc::ENOMEM));
            if !w.work.is_null() {
                napi_delete_async_work(env, w.work);
            }
        }
    }
    Ok(promise)
}
js_fn!(wait_pidfd, wait_pidfd_impl);

/// tryWait(pid) -> null | [si_code, si_status]
fn try_wait_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let pid = arg_i32(env, a[0], "pid")?;
    match unsafe { waitid(libc::P_PID as c_int, pid, libc::WEXITED | libc::WNOHANG) } {
        Err(e) => Err(throw_errno(env, "waitid", e)),
        Ok(info) if unsafe { info.si_pid() } == 0 => Ok(null(env)),
        Ok(info) => Ok(int_array(env, &status_pair(&info))),
    }
}
js_fn!(try_wait, try_wait_impl);

/// peekExited() -> pid of a child that has exited (left unreaped: WNOWAIT), or 0 if none (or no
/// children at all).
fn peek_exited_impl(env: napi_env, _a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    match unsafe { waitid(libc::P_ALL as c_int, 0, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) } {
        Err(libc::ECHILD) => Ok(int32(env, 0)),
        Err(e) => Err(throw_errno(env, "waitid", e)),
        Ok(info) => Ok(int32(env, unsafe { info.si_pid() })),
    }
}
js_fn!(peek_exited, peek_exited_impl);

fn ret_fd(env: napi_env, what: &str, r: c_long) -> JsResult<napi_value> {
    if r < 0 {
        return Err(throw_errno(env, what, errno()));
    }
    Ok(int32(env, r as i32))
}

fn ret_unit(env: napi_env, what: &str, r: c_long) -> JsResult<napi_value> {
    if r < 0 {
        return Err(throw_errno(env, what, errno()));
    }
    Ok(undefined(env))
}

fn pidfd_open_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let pid = arg_i32(env, a[0], "pid")?;
    ret_fd(env, "pidfd_open", unsafe { libc::syscall(SYS_pidfd_open, pid as c_long, 0usize) })
}
js_fn!(pidfd_open, pidfd_open_impl);

fn pidfd_send_signal_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let fd = arg_i32(env, a[0], "pidfd")?;
    let sig = arg_i32(env, a[1], "signal")?;
    let r = unsafe { libc::syscall(SYS_pidfd_send_signal, fd as c_long, sig as c_long, 0usize, 0usize) };
    ret_unit(env, "pidfd_send_signal", r)
}
js_fn!(pidfd_send_signal, pidfd_send_signal_impl);

/// lockFile(fd, exclusive, nonBlocking) -> boolean (false: nonBlocking and already held).
/// A POSIX record lock on the whole file (fcntl F_SETLK[W]): unlike flock, it belongs to this process
/// only, so an init cloned while it is held does not keep holding it.
fn lock_file_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let fd = arg_i32(env, a[0], "fd")?;
    let ex = arg_bool(env, a[1], "exclusive")?;
    let nb = arg_bool(env, a[2], "nonBlocking")?;
    let mut fl: libc::flock = unsafe { core::mem::zeroed() };
    fl.l_type = if ex { libc::F_WRLCK } else { libc::F_RDLCK } as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    let cmd = if nb { libc::F_SETLK } else { libc::F_SETLKW };
    loop {
        if unsafe { libc::fcntl(fd, cmd, &fl as *const libc::flock) } == 0 {
            return Ok(boolean(env, true));
        }
        match errno() {
            libc::EINTR => continue,
            libc::EAGAIN | libc::EACCES if nb => return Ok(boolean(env, false)),
            e => return Err(throw_errno(env, "fcntl(F_SETLK)", e)),
        }
    }
}
js_fn!(lock_file, lock_file_impl);

/// socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC) -> [a, b]
fn socketpair_impl(env: napi_env, _a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let mut sv = [-1 as c_int; 2];
    if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) } < 0 {
        return Err(throw_errno(env, "socketpair", errno()));
    }
    Ok(int_array(env, &sv))
}
js_fn!(socketpair, socketpair_impl);

/// pipe2(O_CLOEXEC) -> [read end, write end]
fn pipe_impl(env: napi_env, _a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let mut fds = [-1 as c_int; 2];
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(throw_errno(env, "pipe2", errno()));
    }
    Ok(int_array(env, &fds))
}
js_fn!(pipe, pipe_impl);

/// fcntl(fd, F_SETFL, flags | O_NONBLOCK): the shim's own end of a pipe or pty, written from the
/// event loop.
fn set_nonblocking_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let fd = arg_i32(env, a[0], "fd")?;
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(throw_errno(env, "fcntl(F_GETFL)", errno()));
    }
    let r = unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    ret_unit(env, "fcntl(F_SETFL, O_NONBLOCK)", r as c_long)
}
js_fn!(set_nonblocking, set_nonblocking_impl);

fn cstring(env: napi_env, v: Vec<u8>, what: &str) -> JsResult<std::ffi::CString> {
    std::ffi::CString::new(v).map_err(|_| type_error(env, &format!("{what} contains a NUL character")))
}

/// mount(source, target, fstype, flags, data) in the caller's mount namespace (the shim's rootfs).
fn mount_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let source = cstring(env, arg_string(env, a[0], "source")?, "source")?;
    let target = cstring(env, arg_string(env, a[1], "target")?, "target")?;
    let fstype = cstring(env, arg_string(env, a[2], "fstype")?, "fstype")?;
    let flags = arg_u32(env, a[3], "flags")?;
    let data = cstring(env, arg_string(env, a[4], "data")?, "data")?;
    let dp = if data.as_bytes().is_empty() { ptr::null() } else { data.as_ptr() as *const c_void };
    let r = unsafe { libc::mount(source.as_ptr(), target.as_ptr(), fstype.as_ptr(), flags as libc::c_ulong, dp) };
    ret_unit(env, "mount", r as c_long)
}
js_fn!(mount, mount_impl);

/// umount2(target, flags)
fn umount_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let target = cstring(env, arg_string(env, a[0], "target")?, "target")?;
    let flags = arg_i32(env, a[1], "flags")?;
    let r = unsafe { libc::umount2(target.as_ptr(), flags) };
    ret_unit(env, "umount2", r as c_long)
}
js_fn!(umount, umount_impl);

fn connect_unix_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let path = arg_string(env, a[0], "path")?;
    let mut addr: libc::sockaddr_un = unsafe { core::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if path.is_empty() || path.len() >= addr.sun_path.len() || path.contains(&0) {
        return Err(throw_errno(env, "connect", libc::ENAMETOOLONG));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(path.iter()) {
        *d = *s as c_char;
    }
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(throw_errno(env, "socket", errno()));
    }
    let len = (core::mem::size_of::<libc::sa_family_t>() + path.len() + 1) as libc::socklen_t;
    loop {
        let r = unsafe { libc::connect(fd, &addr as *const libc::sockaddr_un as *const libc::sockaddr, len) };
        if r == 0 {
            return Ok(int32(env, fd));
        }
        let e = errno();
        if e == libc::EINTR {
            continue;
        }
        unsafe { close(fd) };
        return Err(throw_errno(env, "connect", e));
    }
}
js_fn!(connect_unix, connect_unix_impl);

/// recvFd(sock) -> [fd, name]
fn recv_fd_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let sock = arg_i32(env, a[0], "sock")?;
    let mut name = vec![0u8; 4096];
    let mut iov = libc::iovec { iov_base: name.as_mut_ptr() as *mut c_void, iov_len: name.len() };
    let mut cbuf = [0u64; 16]; // room for several fds; extras are closed
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut c_void;
    msg.msg_controllen = core::mem::size_of_val(&cbuf);
    let n = loop {
        let r = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if r < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(throw_errno(env, "recvmsg", e));
        }
        break r as usize;
    };
    let mut got: c_int = -1;
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c);
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                for i in 0..count {
                    let mut fd: c_int = -1;
                    ptr::copy_nonoverlapping(data.add(i * 4), &mut fd as *mut c_int as *mut u8, 4);
                    if got < 0 {
                        got = fd;
                    } else {
                        close(fd);
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if got < 0 {
        let why = if n == 0 { "the peer closed the socket" } else { "the message carried no file descriptor" };
        return Err(throw_plain(env, "ENOMSG", &format!("recvFd: {}", why)));
    }
    let name = String::from_utf8_lossy(&name[..n]).into_owned();
    let mut arr = ptr::null_mut();
    unsafe {
        napi_create_array_with_length(env, 2, &mut arr);
        napi_set_element(env, arr, 0, int32(env, got));
        napi_set_element(env, arr, 1, string(env, &name));
    }
    Ok(arr)
}
js_fn!(recv_fd, recv_fd_impl);

fn set_winsize_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let fd = arg_i32(env, a[0], "fd")?;
    let rows = arg_u32(env, a[1], "rows")?;
    let cols = arg_u32(env, a[2], "cols")?;
    if rows > 0xFFFF || cols > 0xFFFF {
        return Err(throw_errno(env, "ioctl(TIOCSWINSZ)", libc::EINVAL));
    }
    let ws = libc::winsize { ws_row: rows as u16, ws_col: cols as u16, ws_xpixel: 0, ws_ypixel: 0 };
    ret_unit(env, "ioctl(TIOCSWINSZ)", unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) } as c_long)
}
js_fn!(set_winsize, set_winsize_impl);

/// getWinsize(fd) -> [rows, cols]
fn get_winsize_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let fd = arg_i32(env, a[0], "fd")?;
    let mut ws: libc::winsize = unsafe { core::mem::zeroed() };
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } < 0 {
        return Err(throw_errno(env, "ioctl(TIOCGWINSZ)", errno()));
    }
    Ok(int_array(env, &[ws.ws_row as i32, ws.ws_col as i32]))
}
js_fn!(get_winsize, get_winsize_impl);

fn close_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let fd = arg_i32(env, a[0], "fd")?;
    let r = unsafe { libc::syscall(libc::SYS_close, fd as c_long) };
    // EINTR: Linux has released the fd anyway; retrying could close someone else's.
    if r < 0 && errno() == libc::EINTR {
        return Ok(undefined(env));
    }
    ret_unit(env, "close", r)
}
js_fn!(close_fd, close_impl);

/// poll(fd, events, timeoutMs) -> revents: one fd, 0 when the time ran out or a signal came first
/// (EINTR); the caller keeps its own deadline.
fn poll_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let fd = arg_i32(env, a[0], "fd")?;
    let events = arg_i32(env, a[1], "events")?;
    let timeout = arg_i32(env, a[2], "timeoutMs")?;
    let mut pfd = libc::pollfd { fd, events: events as libc::c_short, revents: 0 };
    let r = unsafe { libc::poll(&mut pfd, 1, timeout) };
    if r < 0 {
        let e = errno();
        if e == libc::EINTR {
            return Ok(int32(env, 0));
        }
        return Err(throw_errno(env, "poll", e));
    }
    Ok(int32(env, pfd.revents as i32))
}
js_fn!(poll_fd, poll_impl);

/// mkfifo(path, mode): mknodat(AT_FDCWD, path, S_IFIFO|mode, 0).
fn mkfifo_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let path = arg_string(env, a[0], "path")?;
    let mode = arg_u32(env, a[1], "mode")?;
    let c = std::ffi::CString::new(path).map_err(|_| type_error(env, "path contains a NUL character"))?;
    let r = unsafe {
        libc::syscall(libc::SYS_mknodat, libc::AT_FDCWD as c_long, c.as_ptr(), (libc::S_IFIFO | (mode & 0o7777)) as c_long, 0usize)
    };
    ret_unit(env, "mkfifo", r)
}
js_fn!(mkfifo, mkfifo_impl);

fn set_child_subreaper_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let on = arg_bool(env, a[0], "on")?;
    let r = unsafe { libc::syscall(libc::SYS_prctl, libc::PR_SET_CHILD_SUBREAPER as c_long, on as c_long, 0usize, 0usize, 0usize) };
    ret_unit(env, "prctl(PR_SET_CHILD_SUBREAPER)", r)
}
js_fn!(set_child_subreaper, set_child_subreaper_impl);

// ---- cgroup v2 device filter: bpf(2) only. The program is built in TypeScript
// (src/cgroups/devicefilter.ts); this loads it and attaches it as runc 1.1 does
// (libcontainer/cgroups/ebpf): BPF_F_ALLOW_MULTI, replacing the one program already attached
// (BPF_F_REPLACE) or detaching the old ones after the new one is in, so there is no moment
// without a filter.

const BPF_PROG_LOAD: c_long = 5;
const BPF_PROG_ATTACH: c_long = 8;
const BPF_PROG_DETACH: c_long = 9;
const BPF_PROG_GET_FD_BY_ID: c_long = 13;
const BPF_PROG_QUERY: c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_F_REPLACE: u32 = 4;

/// union bpf_attr for BPF_PROG_LOAD, up to expected_attach_type.
#[repr(C)]
struct BpfProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// union bpf_attr for BPF_PROG_ATTACH / BPF_PROG_DETACH.
#[repr(C)]
struct BpfProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// union bpf_attr for BPF_PROG_QUERY.
#[repr(C)]
struct BpfProgQuery {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// union bpf_attr for BPF_PROG_GET_FD_BY_ID.
#[repr(C)]
struct BpfGetFdById {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

unsafe fn bpf<T>(cmd: c_long, attr: &mut T) -> Result<c_long, c_int> {
    loop {
        let r = libc::syscall(libc::SYS_bpf, cmd, attr as *mut T as *mut c_void, core::mem::size_of::<T>());
        match check(r) {
            Err(libc::EINTR) | Err(libc::EAGAIN) => continue,
            other => return other,
        }
    }
}

/// Closes an fd when dropped.
struct Fd(c_int);
impl Drop for Fd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            unsafe { close(self.0) };
        }
    }
}

/// Ids of the BPF_CGROUP_DEVICE programs attached to the cgroup directly.
fn query_device_progs(dirfd: c_int) -> Result<Vec<u32>, c_int> {
    let mut size = 64usize;
    for _ in 0..10 {
        let mut ids = vec![0u32; size];
        let mut q = BpfProgQuery {
            target_fd: dirfd as u32,
            attach_type: BPF_CGROUP_DEVICE,
            query_flags: 0,
            attach_flags: 0,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: size as u32,
            _pad: 0,
        };
        match unsafe { bpf(BPF_PROG_QUERY, &mut q) } {
            Ok(_) => {
                ids.truncate(q.prog_cnt as usize);
                return Ok(ids);
            }
            // The kernel wrote the real count: try again with room for it.
            Err(libc::ENOSPC) => size = (q.prog_cnt as usize).max(size + 1),
            Err(e) => return Err(e),
        }
    }
    Err(libc::ENOSPC)
}

/// An fd for an attached program; None if it is gone or an LSM keeps it from us (runc skips those).
fn prog_fd_by_id(id: u32) -> Result<Option<Fd>, c_int> {
    let mut a = BpfGetFdById { prog_id: id, next_id: 0, open_flags: 0 };
    match unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &mut a) } {
        Ok(fd) => Ok(Some(Fd(fd as c_int))),
        Err(libc::ENOENT) | Err(libc::EPERM) | Err(libc::EACCES) => Ok(None),
        Err(e) => Err(e),
    }
}

fn attach(dirfd: c_int, prog: c_int, flags: u32, replace: c_int) -> Result<(), c_int> {
    let mut a = BpfProgAttach {
        target_fd: dirfd as u32,
        attach_bpf_fd: prog as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: flags,
        replace_bpf_fd: if replace >= 0 { replace as u32 } else { 0 },
    };
    unsafe { bpf(BPF_PROG_ATTACH, &mut a) }.map(|_| ())
}

fn detach(dirfd: c_int, prog: c_int) -> Result<(), c_int> {
    let mut a = BpfProgAttach { target_fd: dirfd as u32, attach_bpf_fd: prog as u32, attach_type: BPF_CGROUP_DEVICE, attach_flags: 0, replace_bpf_fd: 0 };
    unsafe { bpf(BPF_PROG_DETACH, &mut a) }.map(|_| ())
}

/// BPF_PROG_LOAD; on failure, once more with the verifier's log, returned with the errno.
fn load_device_prog(insns: &[u8], license: &std::ffi::CStr) -> Result<Fd, (c_int, String)> {
    let attr = |log: &mut Vec<u8>, level: u32| BpfProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: (insns.len() / 8) as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: level,
        log_size: if level > 0 { log.len() as u32 } else { 0 },
        log_buf: if level > 0 { log.as_mut_ptr() as u64 } else { 0 },
        kern_version: 0,
        prog_flags: 0,
        prog_name: *b"tsrunc_devices\0\0",
        prog_ifindex: 0,
        expected_attach_type: 0,
    };
    let mut nolog = Vec::new();
    let mut a = attr(&mut nolog, 0);
    match unsafe { bpf(BPF_PROG_LOAD, &mut a) } {
        Ok(fd) => Ok(Fd(fd as c_int)),
        Err(e) => {
            let mut log = vec![0u8; 64 * 1024];
            let mut a = attr(&mut log, 1);
            let _ = unsafe { bpf(BPF_PROG_LOAD, &mut a) };
            let n = log.iter().position(|&b| b == 0).unwrap_or(0);
            Err((e, String::from_utf8_lossy(&log[..n]).trim().to_string()))
        }
    }
}

/// attachDeviceFilter(cgroupDir, insns: Uint8Array, license) -> number of programs attached before
fn attach_device_filter_impl(env: napi_env, a: &[napi_value; MAX_ARGS]) -> JsResult<napi_value> {
    let dir = arg_string(env, a[0], "cgroupDir")?;
    let insns = arg_bytes(env, a[1], "insns")?;
    let license = arg_string(env, a[2], "license")?;
    if insns.is_empty() || insns.len() % 8 != 0 {
        return Err(throw_plain(env, "EINVAL", "attachDeviceFilter: insns must be a non-empty multiple of 8 bytes"));
    }
    let dir = std::ffi::CString::new(dir).map_err(|_| type_error(env, "cgroupDir contains a NUL character"))?;
    let license = std::ffi::CString::new(license).map_err(|_| type_error(env, "license contains a NUL character"))?;
    // Programs are charged to RLIMIT_MEMLOCK on kernels before 5.11. Only this process is affected:
    // the container's init was cloned before (runc does the same).
    let inf = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &inf) };

    let dirfd = match unsafe { openat(libc::AT_FDCWD, dir.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0) } {
        Ok(fd) => Fd(fd),
        Err(e) => return Err(throw_errno(env, "open(cgroup directory)", e)),
    };
    let old = query_device_progs(dirfd.0).map_err(|e| throw_errno(env, "bpf(BPF_PROG_QUERY)", e))?;
    let prog = match load_device_prog(insns, &license) {
        Ok(fd) => fd,
        Err((e, log)) => {
            let err = errno_error(env, "bpf(BPF_PROG_LOAD)", e);
            if !log.is_empty() {
                set_prop(env, err, b"verifierLog\0", string(env, &log));
            }
            unsafe { napi_throw(env, err) };
            return Err(Thrown);
        }
    };
    // One program there (ours from before): swap it atomically where the kernel can (5.6+).
    if old.len() == 1 {
        if let Some(oldfd) = prog_fd_by_id(old[0]).map_err(|e| throw_errno(env, "bpf(BPF_PROG_GET_FD_BY_ID)", e))? {
            match attach(dirfd.0, prog.0, BPF_F_ALLOW_MULTI | BPF_F_REPLACE, oldfd.0) {
                Ok(()) => return Ok(int32(env, 1)),
                Err(libc::EINVAL) => {} // no BPF_F_REPLACE: attach, then detach
                Err(e) => return Err(throw_errno(env, "bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI|BPF_F_REPLACE)", e)),
            }
        }
    }
    attach(dirfd.0, prog.0, BPF_F_ALLOW_MULTI, -1).map_err(|e| throw_errno(env, "bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)", e))?;
    for id in &old {
        if let Some(oldfd) = prog_fd_by_id(*id).map_err(|e| throw_errno(env, "bpf(BPF_PROG_GET_FD_BY_ID)", e))? {
            match detach(dirfd.0, oldfd.0) {
                Ok(()) | Err(libc::ENOENT) => {}
                Err(e) => return Err(throw_errno(env, "bpf(BPF_PROG_DETACH, BPF_CGROUP_DEVICE) of an old filter", e)),
            }
        }
    }
    Ok(int32(env, old.len() as i32))
}
js_fn!(attach_device_filter, attach_device_filter_impl);

/// (JS name, callback) pairs registered on the module's exports.
pub const FUNCTIONS: &[(&[u8], napi_callback)] = &[
    (b"spawnInit\0", spawn_init),
    (b"recvMessage\0", recv_message),
    (b"reply\0", reply),
    (b"waitPidfd\0", wait_pidfd),
    (b"tryWait\0", try_wait),
    (b"peekExited\0", peek_exited),
    (b"pidfdOpen\0", pidfd_open),
    (b"pidfdSendSignal\0", pidfd_send_signal),
    (b"lockFile\0", lock_file),
    (b"socketpair\0", socketpair),
    (b"pipe\0", pipe),
    (b"setNonblocking\0", set_nonblocking),
    (b"mount\0", mount),
    (b"umount\0", umount),
    (b"connectUnix\0", connect_unix),
    (b"recvFd\0", recv_fd),
    (b"setWinsize\0", set_winsize),
    (b"getWinsize\0", get_winsize),
    (b"close\0", close_fd),
    (b"poll\0", poll_fd),
    (b"mkfifo\0", mkfifo),
    (b"setChildSubreaper\0", set_child_subreaper),
    (b"attachDeviceFilter\0", attach_device_filter),
];
