//! The cloned child: walks the parsed plan and execs. Runs in a copy of a multi-threaded process
//! with only this thread alive, so it makes raw system calls only: no allocation, no locks, no
//! formatting, no panics, no glibc set*id wrappers. It never returns: it execs or exit_group()s.
//!
//! Messages to the parent are 12-byte records (kind, a, b as little-endian u32) on a
//! SOCK_SEQPACKET socket; the parent answers a SYNC with one u32 (0 = continue).

use crate::plan::{Argv, Op, Path, Plan, PATH_MAX, SLOTS};
use crate::sys::*;
use core::ffi::{c_char, c_int, c_long, c_void};
use core::ptr;
use libc::{AT_FDCWD, O_CLOEXEC, O_DIRECTORY, O_PATH};

pub const MSG_SYNC: u32 = 1;
pub const MSG_PID: u32 = 2;
pub const MSG_ERROR: u32 = 3;

type Res = Result<(), c_int>;

/// An fd closed when dropped (negative values, e.g. AT_FDCWD, are never closed).
struct Fd(c_int);
impl Drop for Fd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            unsafe { close(self.0) };
        }
    }
}

struct State {
    sock: c_int,
    /// The root for inRoot paths: plan.rootfs, then "/" after pivotRoot/moveRoot.
    root: *const c_char,
    slots: [c_int; SLOTS],
    /// A tryChdir was denied: the retryChdir after it must chdir.
    chdir_denied: bool,
}

const SLASH: &[u8] = b"/\0";
const DOT: &[u8] = b".\0";

fn cp(b: &[u8]) -> *const c_char {
    b.as_ptr() as *const c_char
}

pub fn exit(code: c_int) -> ! {
    unsafe {
        libc::syscall(libc::SYS_exit_group, code as c_long);
    }
    loop {}
}

pub unsafe fn send_msg(sock: c_int, kind: u32, a: u32, b: u32) -> Res {
    let mut buf = [0u8; 12];
    buf[0..4].copy_from_slice(&kind.to_le_bytes());
    buf[4..8].copy_from_slice(&a.to_le_bytes());
    buf[8..12].copy_from_slice(&b.to_le_bytes());
    loop {
        let r = libc::syscall(
            libc::SYS_sendto,
            sock as c_long,
            buf.as_ptr(),
            12usize,
            libc::MSG_NOSIGNAL as c_long,
            0usize,
            0usize,
        );
        match check(r) {
            Err(libc::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(_) => return Ok(()),
        }
    }
}

fn fail(sock: c_int, op: usize, errno: c_int) -> ! {
    unsafe {
        let _ = send_msg(sock, MSG_ERROR, op as u32, errno as u32);
    }
    exit(1)
}

/// Entry point in the child, right after clone.
pub unsafe fn run(plan: &Plan, sock: c_int, parent_end: c_int) -> ! {
    // Hard-coded prologue (not policy). Handlers first, so that a signal pending on the mask
    // cannot run one of the host's handlers in this copy; the kernel's struct sigaction with
    // SIG_DFL, no flags, no restorer and an empty mask is all zeros on every architecture.
    let act = [0u64; 4];
    for sig in 1..=64 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            libc::syscall(libc::SYS_rt_sigaction, sig as c_long, act.as_ptr(), 0usize, 8usize);
        }
    }
    let empty: u64 = 0;
    libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK as c_long, &empty as *const u64, 0usize, 8usize);
    libc::syscall(libc::SYS_prctl, libc::PR_SET_DUMPABLE as c_long, 0usize, 0usize, 0usize, 0usize);
    close(parent_end);

    let mut st = State { sock, root: plan.rootfs.as_ptr(), slots: [-1; SLOTS], chdir_denied: false };
    for (i, op) in plan.ops.iter().enumerate() {
        if let Err(e) = run_op(&mut st, op) {
            fail(sock, i, e);
        }
    }
    exit(0)
}

/// `prefix` followed by the decimal `n` and a NUL, in `buf`.
fn num_path(prefix: &[u8], n: u32, buf: &mut [u8; 32]) -> *const c_char {
    buf[..prefix.len()].copy_from_slice(prefix);
    let mut digits = [0u8; 10];
    let mut n = n;
    let mut k = 0;
    loop {
        digits[k] = b'0' + (n % 10) as u8;
        k += 1;
        n /= 10;
        if n == 0 || k == digits.len() {
            break;
        }
    }
    let mut p = prefix.len();
    while k > 0 {
        k -= 1;
        buf[p] = digits[k];
        p += 1;
    }
    buf[p] = 0;
    buf.as_ptr() as *const c_char
}

/// "/proc/self/fd/<fd>\0" in `buf`.
fn fd_path(fd: c_int, buf: &mut [u8; 32]) -> *const c_char {
    num_path(b"/proc/self/fd/", fd as u32, buf)
}

const RESOLVE: u64 = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

/// Open the root afresh each time: a bind mount over the rootfs itself (the usual first step)
/// would otherwise leave a cached fd pointing below the new mount.
unsafe fn open_root(st: &State) -> Result<Fd, c_int> {
    openat(AT_FDCWD, st.root, O_PATH | O_DIRECTORY | O_CLOEXEC, 0).map(Fd)
}

/// An O_PATH fd for `path`: inRoot paths via openat2(RESOLVE_IN_ROOT), others as given.
unsafe fn resolve(st: &State, path: &Path, extra: c_int) -> Result<Fd, c_int> {
    let flags = O_PATH | O_CLOEXEC | extra;
    if path.in_root {
        let root = open_root(st)?;
        openat2(root.0, path.ptr(), flags, RESOLVE).map(Fd)
    } else {
        openat(AT_FDCWD, path.ptr(), flags, 0).map(Fd)
    }
}

/// Split `path` into (parent directory fd, final name). The name is NUL-terminated in `buf`
/// at the returned offset. "." and ".." as final names are refused (EINVAL).
unsafe fn resolve_parent(st: &State, path: &Path, buf: &mut [u8; PATH_MAX]) -> Result<(Fd, usize), c_int> {
    let b = path.bytes();
    let mut n = b.len();
    if n >= PATH_MAX {
        return Err(libc::ENAMETOOLONG);
    }
    buf[..n].copy_from_slice(b);
    while n > 1 && buf[n - 1] == b'/' {
        n -= 1;
    }
    buf[n] = 0;
    let slash = buf[..n].iter().rposition(|&c| c == b'/');
    let name_off = match slash {
        Some(i) => i + 1,
        None => 0,
    };
    let name = &buf[name_off..n];
    if name.is_empty() || name == b"." || name == b".." {
        return Err(libc::EINVAL);
    }
    let parent: *const c_char = match slash {
        None => cp(DOT),
        Some(0) => cp(SLASH),
        Some(i) => {
            buf[i] = 0; // parent = buf[..i]
            buf.as_ptr() as *const c_char
        }
    };
    let flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    let dir = if path.in_root {
        let root = open_root(st)?;
        openat2(root.0, parent, flags, RESOLVE)
    } else {
        openat(AT_FDCWD, parent, flags, 0)
    }?;
    Ok((Fd(dir), name_off))
}

unsafe fn mkdir_all(st: &State, path: &Path, mode: u32) -> Res {
    if let Ok(_fd) = resolve(st, path, O_DIRECTORY) {
        return Ok(());
    }
    let b = path.bytes();
    let n = b.len();
    if n >= PATH_MAX {
        return Err(libc::ENAMETOOLONG);
    }
    let mut buf = [0u8; PATH_MAX];
    buf[..n].copy_from_slice(b);
    buf[n] = 0;
    let (base, resolve_flags) = if path.in_root { (open_root(st)?, RESOLVE) } else { (Fd(AT_FDCWD), 0) };
    // The directory in which the next component is created.
    let mut parent = if path.in_root {
        Fd(-1) // use `base`
    } else if b.first() == Some(&b'/') {
        Fd(openat(AT_FDCWD, cp(SLASH), O_PATH | O_DIRECTORY | O_CLOEXEC, 0)?)
    } else {
        Fd(-1) // AT_FDCWD, held by `base`
    };
    let flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    let mut i = 0;
    while i < n {
        while i < n && buf[i] == b'/' {
            i += 1;
        }
        if i == n {
            break;
        }
        let start = i;
        while i < n && buf[i] != b'/' {
            i += 1;
        }
        let saved = buf[i];
        buf[i] = 0;
        let prefix = buf.as_ptr() as *const c_char;
        let mut r = openat2(base.0, prefix, flags, resolve_flags);
        if r == Err(libc::ENOENT) {
            let pfd = if parent.0 >= 0 { parent.0 } else { base.0 };
            let m = libc::syscall(libc::SYS_mkdirat, pfd as c_long, buf.as_ptr().add(start), mode as c_long);
            match check(m) {
                Ok(_) | Err(libc::EEXIST) => {}
                Err(e) => return Err(e),
            }
            r = openat2(base.0, prefix, flags, resolve_flags);
        }
        parent = Fd(r?);
        buf[i] = saved;
    }
    Ok(())
}

unsafe fn touch(st: &State, path: &Path, mode: u32) -> Res {
    match resolve(st, path, 0) {
        Ok(_) => return Ok(()),
        Err(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let mut buf = [0u8; PATH_MAX];
    let (dir, off) = resolve_parent(st, path, &mut buf)?;
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_NOCTTY | O_CLOEXEC;
    match openat(dir.0, buf.as_ptr().add(off) as *const c_char, flags, mode) {
        Ok(fd) => {
            close(fd);
            Ok(())
        }
        Err(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

fn opt_ptr(s: &Option<std::ffi::CString>) -> *const c_char {
    match s {
        Some(c) => c.as_ptr(),
        None => ptr::null(),
    }
}

unsafe fn mount(source: *const c_char, target: *const c_char, fstype: *const c_char, flags: u64, data: *const c_char) -> Res {
    check(libc::syscall(libc::SYS_mount, source, target, fstype, flags as c_long, data)).map(|_| ())
}

unsafe fn do_mount(st: &State, op: &Op) -> Res {
    let Op::Mount { source, target, fstype, flags, data, .. } = op else { return Err(libc::EINVAL) };
    let mut pbuf = [0u8; 32];
    let (_fd, tpath) = if target.in_root {
        let fd = resolve(st, target, 0)?;
        let p = fd_path(fd.0, &mut pbuf);
        (fd, p)
    } else {
        (Fd(-1), target.ptr())
    };
    mount(opt_ptr(source), tpath, opt_ptr(fstype), *flags, opt_ptr(data))
}

unsafe fn fstat(fd: c_int) -> Result<libc::stat, c_int> {
    let mut s: libc::stat = core::mem::zeroed();
    check(libc::syscall(libc::SYS_newfstatat, fd as c_long, cp(b"\0"), &mut s as *mut libc::stat, libc::AT_EMPTY_PATH as c_long))?;
    Ok(s)
}

unsafe fn mask_path(st: &State, path: &Path) -> Res {
    let fd = match resolve(st, path, 0) {
        Ok(fd) => fd,
        Err(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    let s = fstat(fd.0)?;
    let mut pbuf = [0u8; 32];
    let target = fd_path(fd.0, &mut pbuf);
    if s.st_mode & libc::S_IFMT == libc::S_IFDIR {
        mount(cp(b"tmpfs\0"), target, cp(b"tmpfs\0"), libc::MS_RDONLY, ptr::null())
    } else {
        mount(cp(b"/dev/null\0"), target, ptr::null(), libc::MS_BIND, ptr::null())
    }
}

unsafe fn write_all(fd: c_int, data: &[u8]) -> Res {
    let mut off = 0;
    while off < data.len() {
        let r = libc::syscall(libc::SYS_write, fd as c_long, data.as_ptr().add(off), data.len() - off);
        match check(r) {
            Err(libc::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(0) => return Err(libc::EIO),
            Ok(k) => off += k as usize,
        }
    }
    Ok(())
}

unsafe fn sys0(nr: c_long) -> Res {
    check(libc::syscall(nr)).map(|_| ())
}
unsafe fn sys1(nr: c_long, a: c_long) -> Res {
    check(libc::syscall(nr, a)).map(|_| ())
}
unsafe fn sys3(nr: c_long, a: c_long, b: c_long, c: c_long) -> Res {
    check(libc::syscall(nr, a, b, c)).map(|_| ())
}

unsafe fn chdir(p: *const c_char) -> Res {
    check(libc::syscall(libc::SYS_chdir, p)).map(|_| ())
}

unsafe fn clear_cloexec(fd: c_int) -> Res {
    let fl = check(libc::syscall(libc::SYS_fcntl, fd as c_long, libc::F_GETFD as c_long))?;
    sys3(libc::SYS_fcntl, fd as c_long, libc::F_SETFD as c_long, fl & !(libc::FD_CLOEXEC as c_long))
}

unsafe fn dup_to(from: c_int, to: c_int) -> Res {
    if from == to {
        return clear_cloexec(to);
    }
    sys3(libc::SYS_dup3, from as c_long, to as c_long, 0)
}

unsafe fn ioctl(fd: c_int, req: u64, arg: usize) -> Result<c_long, c_int> {
    check(libc::syscall(libc::SYS_ioctl, fd as c_long, req as c_long, arg))
}

/// sendmsg one fd with SCM_RIGHTS and a name payload.
unsafe fn send_fd(sock: c_int, fd: c_int, name: &[u8]) -> Res {
    let mut iov = libc::iovec { iov_base: name.as_ptr() as *mut c_void, iov_len: name.len() };
    let mut cbuf = [0u64; 4]; // 32 bytes, 8-aligned: >= CMSG_SPACE(sizeof(int))
    let mut msg: libc::msghdr = core::mem::zeroed();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut c_void;
    msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
    let c = libc::CMSG_FIRSTHDR(&msg);
    if c.is_null() {
        return Err(libc::EINVAL);
    }
    (*c).cmsg_level = libc::SOL_SOCKET;
    (*c).cmsg_type = libc::SCM_RIGHTS;
    (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
    ptr::copy_nonoverlapping(&fd as *const c_int as *const u8, libc::CMSG_DATA(c), 4);
    loop {
        let r = libc::syscall(libc::SYS_sendmsg, sock as c_long, &msg as *const libc::msghdr, libc::MSG_NOSIGNAL as c_long);
        match check(r) {
            Err(libc::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(_) => return Ok(()),
        }
    }
}

unsafe fn console(socket_fd: c_int, ptmx: &std::ffi::CString, rows: u16, cols: u16) -> Res {
    let noctty = libc::O_RDWR | libc::O_NOCTTY | O_CLOEXEC;
    let master = Fd(openat(AT_FDCWD, ptmx.as_ptr(), noctty, 0)?);
    let unlock: c_int = 0;
    ioctl(master.0, libc::TIOCSPTLCK as u64, &unlock as *const c_int as usize)?;
    let peer = match ioctl(master.0, libc::TIOCGPTPEER as u64, noctty as usize) {
        Ok(fd) => Fd(fd as c_int),
        Err(libc::EINVAL) | Err(libc::ENOTTY) => {
            // Kernels before 4.13: open /dev/pts/<n> by name.
            let mut n: u32 = 0;
            ioctl(master.0, libc::TIOCGPTN as u64, &mut n as *mut u32 as usize)?;
            let mut buf = [0u8; 32];
            Fd(openat(AT_FDCWD, num_path(b"/dev/pts/", n, &mut buf), noctty, 0)?)
        }
        Err(e) => return Err(e),
    };
    // process.consoleSize, set before the receiver gets the master (runc sets it only if both are non-zero).
    if rows != 0 && cols != 0 {
        let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        ioctl(master.0, libc::TIOCSWINSZ as u64, &ws as *const libc::winsize as usize)?;
    }
    send_fd(socket_fd, master.0, ptmx.as_bytes())?;
    drop(master);
    match check(libc::syscall(libc::SYS_setsid)) {
        Ok(_) | Err(libc::EPERM) => {} // EPERM: already a session leader
        Err(e) => return Err(e),
    }
    ioctl(peer.0, libc::TIOCSCTTY as u64, 0)?;
    for fd in 0..3 {
        dup_to(peer.0, fd)?;
    }
    if peer.0 < 3 {
        core::mem::forget(peer);
    }
    Ok(())
}

const EXEC_SOFT: [c_int; 5] = [libc::ENOENT, libc::ENOTDIR, libc::ESTALE, libc::ENODEV, libc::ETIMEDOUT];

unsafe fn check_exec(candidates: &[std::ffi::CString]) -> Res {
    let mut first = 0;
    for c in candidates {
        let mut r = check(libc::syscall(
            SYS_faccessat2,
            AT_FDCWD as c_long,
            c.as_ptr(),
            libc::X_OK as c_long,
            libc::AT_EACCESS as c_long,
        ));
        // ENOSYS: an old kernel or runc's seccomp stub; EPERM: a deny-by-default profile that
        // names newer syscalls but not this one (Go's Faccessat, runc's, falls back on both).
        if r == Err(libc::ENOSYS) || r == Err(libc::EPERM) {
            r = check(libc::syscall(libc::SYS_faccessat, AT_FDCWD as c_long, c.as_ptr(), libc::X_OK as c_long));
        }
        let e = match r {
            Ok(_) => {
                let mut s: libc::stat = core::mem::zeroed();
                match check(libc::syscall(libc::SYS_newfstatat, AT_FDCWD as c_long, c.as_ptr(), &mut s as *mut libc::stat, 0)) {
                    Ok(_) if s.st_mode & libc::S_IFMT == libc::S_IFDIR => libc::EACCES,
                    Ok(_) => return Ok(()),
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        if first == 0 {
            first = e;
        }
    }
    Err(if first == 0 { libc::ENOENT } else { first })
}

/// execve each candidate like execvp: "not there" errors move on to the next one, EACCES is
/// remembered and preferred, anything else is final.
unsafe fn exec(candidates: &[std::ffi::CString], argv: &Argv, envp: &Argv) -> c_int {
    let mut soft = 0;
    let mut eacces = false;
    for c in candidates {
        libc::syscall(libc::SYS_execve, c.as_ptr(), argv.ptrs.as_ptr(), envp.ptrs.as_ptr());
        let e = errno();
        if e == libc::EACCES {
            eacces = true;
        } else if EXEC_SOFT.contains(&e) {
            if soft == 0 {
                soft = e;
            }
        } else {
            return e;
        }
    }
    if eacces {
        libc::EACCES
    } else if soft != 0 {
        soft
    } else {
        libc::ENOENT
    }
}

unsafe fn run_op(st: &mut State, op: &Op) -> Res {
    use libc::{
        sock_filter, sock_fprog, syscall, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, CLONE_PARENT, CLOSE_RANGE_CLOEXEC, EBADF,
        EEXIST, EINTR, EINVAL, ENOENT, MNT_DETACH, MS_MOVE, O_NOCTTY, O_RDONLY, O_TRUNC, O_WRONLY, SIGCHLD, SIGKILL,
        SYS_capset, SYS_chroot, SYS_clone, SYS_fchownat, SYS_kill, SYS_mknodat, SYS_personality, SYS_pivot_root,
        SYS_prctl, SYS_prlimit64, SYS_recvfrom, SYS_seccomp, SYS_setdomainname, SYS_setgroups, SYS_sethostname,
        SYS_setns, SYS_setresgid, SYS_setresuid, SYS_setsid, SYS_symlinkat, SYS_umask, SYS_umount2, SYS_unshare,
    };
    match op {
        Op::Setns { path, nstype } => {
            let fd = Fd(openat(AT_FDCWD, path.as_ptr(), O_RDONLY | O_CLOEXEC, 0)?);
            sys3(SYS_setns, fd.0 as c_long, *nstype as c_long, 0)
        }
        Op::Unshare { flags } => sys1(SYS_unshare, *flags as c_long),
        Op::Sync { tag } => {
            send_msg(st.sock, crate::child::MSG_SYNC, *tag, 0)?;
            let mut v: u32 = 1;
            loop {
                let r = syscall(SYS_recvfrom, st.sock as c_long, &mut v as *mut u32, 4usize, 0, 0usize, 0usize);
                match check(r) {
                    Err(EINTR) => continue,
                    Ok(4) if v == 0 => return Ok(()),
                    _ => exit(1), // abort, EOF or error: quietly
                }
            }
        }
        Op::ForkParent => {
            let r = check(syscall(SYS_clone, (CLONE_PARENT | SIGCHLD) as c_long, 0usize, 0usize, 0usize, 0usize))?;
            if r == 0 {
                return Ok(());
            }
            if send_msg(st.sock, MSG_PID, r as u32, 0).is_err() {
                syscall(SYS_kill, r, SIGKILL as c_long);
                exit(1);
            }
            exit(0)
        }
        Op::MkdirAll { path, mode } => mkdir_all(st, path, *mode),
        Op::Touch { path, mode } => touch(st, path, *mode),
        Op::Mount { optional, .. } => match do_mount(st, op) {
            Err(ENOENT) if *optional => Ok(()),
            r => r,
        },
        Op::MountSetattr { target, attr, recursive, optional } => {
            let rec = if *recursive { AT_RECURSIVE } else { 0 };
            let size = core::mem::size_of::<MountAttr>();
            let r = if target.in_root {
                let fd = match resolve(st, target, 0) {
                    Err(ENOENT) if *optional => return Ok(()),
                    r => r?,
                };
                let fl = (AT_EMPTY_PATH | rec) as c_long;
                check(syscall(SYS_mount_setattr, fd.0 as c_long, cp(b"\0"), fl, attr as *const MountAttr, size)).map(|_| ())
            } else {
                check(syscall(SYS_mount_setattr, AT_FDCWD as c_long, target.ptr(), rec as c_long, attr as *const MountAttr, size))
                    .map(|_| ())
            };
            match r {
                Err(ENOENT) if *optional => Ok(()),
                r => r,
            }
        }
        Op::MaskPath { path } => mask_path(st, path),
        Op::Mknod { path, mode, dev, uid, gid } => {
            let mut buf = [0u8; PATH_MAX];
            let (dir, off) = resolve_parent(st, path, &mut buf)?;
            let name = buf.as_ptr().add(off);
            // The node gets its fileMode whatever the inherited umask (runc: umask 0 around createDevices).
            let old_mask = syscall(SYS_umask, 0 as c_long);
            let r = check(syscall(SYS_mknodat, dir.0 as c_long, name, *mode as c_long, *dev as c_long));
            syscall(SYS_umask, old_mask);
            r?;
            let fl = AT_SYMLINK_NOFOLLOW as c_long;
            check(syscall(SYS_fchownat, dir.0 as c_long, name, *uid as c_long, *gid as c_long, fl)).map(|_| ())
        }
        Op::Symlink { target, linkpath } => {
            let mut buf = [0u8; PATH_MAX];
            let (dir, off) = resolve_parent(st, linkpath, &mut buf)?;
            match check(syscall(SYS_symlinkat, target.as_ptr(), dir.0 as c_long, buf.as_ptr().add(off))) {
                Ok(_) | Err(EEXIST) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Op::PivotRoot { rootfs } => {
            chdir(rootfs.as_ptr())?;
            check(syscall(SYS_pivot_root, cp(DOT), cp(DOT)))?;
            check(syscall(SYS_umount2, cp(DOT), MNT_DETACH as c_long))?;
            chdir(cp(SLASH))?;
            st.root = cp(SLASH);
            Ok(())
        }
        Op::MoveRoot { rootfs } => {
            chdir(rootfs.as_ptr())?;
            mount(rootfs.as_ptr(), cp(SLASH), ptr::null(), MS_MOVE, ptr::null())?;
            check(syscall(SYS_chroot, cp(DOT)))?;
            chdir(cp(SLASH))?;
            st.root = cp(SLASH);
            Ok(())
        }
        Op::WriteFile { path, data, optional } => {
            match openat(AT_FDCWD, path.as_ptr(), O_WRONLY | O_TRUNC | O_NOCTTY | O_CLOEXEC, 0) {
                Ok(fd) => {
                    let fd = Fd(fd);
                    write_all(fd.0, data)
                }
                Err(ENOENT) if *optional => Ok(()),
                Err(e) => Err(e),
            }
        }
        Op::Sethostname { name } => check(syscall(SYS_sethostname, name.as_ptr(), name.len())).map(|_| ()),
        Op::Setdomainname { name } => check(syscall(SYS_setdomainname, name.as_ptr(), name.len())).map(|_| ()),
        Op::Setrlimit { resource, limit } => {
            check(syscall(SYS_prlimit64, 0usize, *resource as c_long, limit.as_ptr(), 0usize)).map(|_| ())
        }
        Op::Personality { persona } => check(syscall(SYS_personality, *persona as c_long)).map(|_| ()),
        Op::Prctl { option, arg2, arg3 } => {
            check(syscall(SYS_prctl, *option as c_long, *arg2 as c_long, *arg3 as c_long, 0usize, 0usize)).map(|_| ())
        }
        Op::Capset { data } => {
            let hdr: [u32; 2] = [0x2008_0522, 0]; // _LINUX_CAPABILITY_VERSION_3, pid 0
            check(syscall(SYS_capset, hdr.as_ptr(), data.as_ptr())).map(|_| ())
        }
        Op::Setgroups { gids } => check(syscall(SYS_setgroups, gids.len(), gids.as_ptr())).map(|_| ()),
        Op::Setresgid { gid } => sys3(SYS_setresgid, *gid as c_long, *gid as c_long, *gid as c_long),
        Op::Setresuid { uid } => sys3(SYS_setresuid, *uid as c_long, *uid as c_long, *uid as c_long),
        Op::Umask { mask } => {
            syscall(SYS_umask, *mask as c_long);
            Ok(())
        }
        Op::Chdir { path } => chdir(path.as_ptr()),
        Op::TryChdir { path } => match chdir(path.as_ptr()) {
            Err(libc::EACCES) | Err(libc::EPERM) => {
                st.chdir_denied = true;
                Ok(())
            }
            r => r,
        },
        Op::RetryChdir { path } if st.chdir_denied => chdir(path.as_ptr()),
        Op::RetryChdir { .. } => Ok(()),
        Op::Setsid => sys0(SYS_setsid),
        Op::CloexecFrom { from } => sys3(SYS_close_range, *from as c_long, !0u32 as c_long, CLOSE_RANGE_CLOEXEC as c_long),
        Op::InheritFds { from, to } => {
            for fd in *from..*to {
                // The sync socket must never reach the container: the parent waits for its EOF.
                if fd as c_int != st.sock {
                    match clear_cloexec(fd as c_int) {
                        Ok(()) | Err(EBADF) => {} // not open: nothing to pass
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(())
        }
        Op::OpenPath { path, slot } => {
            let fd = openat(AT_FDCWD, path.as_ptr(), O_PATH | O_CLOEXEC, 0)?;
            if let Some(s) = st.slots.get_mut(*slot) {
                if *s >= 0 {
                    close(*s);
                }
                *s = fd;
                Ok(())
            } else {
                Err(EINVAL)
            }
        }
        Op::WaitStart { dir_fd, name } => {
            // Relative to a directory fd the runtime opened: no search permission is needed on the
            // directories above it, nor /proc/self/fd (closed to a non-dumpable process after setuid).
            let w = Fd(openat(*dir_fd, name.as_ptr(), O_WRONLY | O_CLOEXEC, 0)?);
            write_all(w.0, b"0")
        }
        Op::Console { socket_fd, ptmx_path, rows, cols } => console(*socket_fd, ptmx_path, *rows, *cols),
        Op::Seccomp { flags, filter } => {
            let prog = sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut sock_filter };
            check(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, *flags as c_long, &prog as *const sock_fprog)).map(|_| ())
        }
        Op::CheckExec { candidates } => check_exec(candidates),
        Op::Exec { candidates, argv, envp } => Err(exec(candidates, argv, envp)),
        Op::Dup2 { from, to } => {
            if *to == st.sock {
                // Move the sync socket out of the way rather than lose it.
                let moved = check(syscall(libc::SYS_fcntl, st.sock as c_long, libc::F_DUPFD_CLOEXEC as c_long, 3usize))?;
                st.sock = moved as c_int;
            }
            dup_to(*from, *to)
        }
        Op::JoinSessionKeyring { name, perm } => {
            const KEYCTL_JOIN_SESSION_KEYRING: c_long = 1;
            const KEYCTL_SETPERM: c_long = 5;
            const KEY_SPEC_SESSION_KEYRING: c_long = -3;
            match check(syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr())) {
                // No keyrings in this kernel: the separation is best effort.
                Err(libc::ENOSYS) => Ok(()),
                Err(e) => Err(e),
                Ok(_) => check(syscall(libc::SYS_keyctl, KEYCTL_SETPERM, KEY_SPEC_SESSION_KEYRING, *perm as c_long)).map(|_| ()),
            }
        }
    }
}
