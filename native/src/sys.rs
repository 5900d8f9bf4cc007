//! Raw system-call helpers and the few kernel ABI definitions libc 0.2.139 lacks.
//! Everything here is usable in the cloned child: no allocation, no locks, no panics.

use core::ffi::{c_char, c_int, c_long};

pub use libc::{
    SYS_close_range, SYS_faccessat2, SYS_mount_setattr, SYS_openat2, SYS_pidfd_open, SYS_pidfd_send_signal,
};

/// struct open_how (linux/openat2.h); libc's is #[non_exhaustive].
#[repr(C)]
pub struct OpenHow {
    pub flags: u64,
    pub mode: u64,
    pub resolve: u64,
}

/// struct mount_attr (linux/mount.h), MOUNT_ATTR_SIZE_VER0.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

pub const AT_RECURSIVE: c_int = 0x8000;
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_IN_ROOT: u64 = 0x10;
pub const SECCOMP_SET_MODE_FILTER: c_long = 1;

#[inline]
pub fn errno() -> c_int {
    unsafe { *libc::__errno_location() }
}

/// libc::syscall returns -1 and sets errno on failure.
#[inline]
pub fn check(ret: c_long) -> Result<c_long, c_int> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

pub unsafe fn close(fd: c_int) {
    libc::syscall(libc::SYS_close, fd as c_long);
}

/// openat2(dirfd, path, how). Returns the new fd.
pub unsafe fn openat2(dirfd: c_int, path: *const c_char, flags: c_int, resolve: u64) -> Result<c_int, c_int> {
    let how = OpenHow { flags: flags as u32 as u64, mode: 0, resolve };
    let mut tries = 0;
    loop {
        tries += 1;
        let r = libc::syscall(
            SYS_openat2,
            dirfd as c_long,
            path,
            &how as *const OpenHow,
            core::mem::size_of::<OpenHow>(),
        );
        match check(r) {
            // EAGAIN: a rename raced with RESOLVE_IN_ROOT; the kernel asks us to retry.
            Err(libc::EAGAIN) | Err(libc::EINTR) if tries < 64 => continue,
            Err(e) => return Err(e),
            Ok(fd) => return Ok(fd as c_int),
        }
    }
}

pub unsafe fn openat(dirfd: c_int, path: *const c_char, flags: c_int, mode: u32) -> Result<c_int, c_int> {
    loop {
        let r = libc::syscall(libc::SYS_openat, dirfd as c_long, path, flags as c_long, mode as c_long);
        match check(r) {
            Err(libc::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(fd) => return Ok(fd as c_int),
        }
    }
}

static ERRNO_NAMES: [&str; 134] = [
    "", "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF", "ECHILD",
    "EAGAIN", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST", "EXDEV", "ENODEV", "ENOTDIR",
    "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY", "ETXTBSY", "EFBIG", "ENOSPC", "ESPIPE", "EROFS",
    "EMLINK", "EPIPE", "EDOM", "ERANGE", "EDEADLK", "ENAMETOOLONG", "ENOLCK", "ENOSYS", "ENOTEMPTY",
    "ELOOP", "", "ENOMSG", "EIDRM", "ECHRNG", "EL2NSYNC", "EL3HLT", "EL3RST", "ELNRNG", "EUNATCH",
    "ENOCSI", "EL2HLT", "EBADE", "EBADR", "EXFULL", "ENOANO", "EBADRQC", "EBADSLT", "", "EBFONT",
    "ENOSTR", "ENODATA", "ETIME", "ENOSR", "ENONET", "ENOPKG", "EREMOTE", "ENOLINK", "EADV", "ESRMNT",
    "ECOMM", "EPROTO", "EMULTIHOP", "EDOTDOT", "EBADMSG", "EOVERFLOW", "ENOTUNIQ", "EBADFD", "EREMCHG",
    "ELIBACC", "ELIBBAD", "ELIBSCN", "ELIBMAX", "ELIBEXEC", "EILSEQ", "ERESTART", "ESTRPIPE", "EUSERS",
    "ENOTSOCK", "EDESTADDRREQ", "EMSGSIZE", "EPROTOTYPE", "ENOPROTOOPT", "EPROTONOSUPPORT",
    "ESOCKTNOSUPPORT", "ENOTSUP", "EPFNOSUPPORT", "EAFNOSUPPORT", "EADDRINUSE", "EADDRNOTAVAIL",
    "ENETDOWN", "ENETUNREACH", "ENETRESET", "ECONNABORTED", "ECONNRESET", "ENOBUFS", "EISCONN",
    "ENOTCONN", "ESHUTDOWN", "ETOOMANYREFS", "ETIMEDOUT", "ECONNREFUSED", "EHOSTDOWN", "EHOSTUNREACH",
    "EALREADY", "EINPROGRESS", "ESTALE", "EUCLEAN", "ENOTNAM", "ENAVAIL", "EISNAM", "EREMOTEIO",
    "EDQUOT", "ENOMEDIUM", "EMEDIUMTYPE", "ECANCELED", "ENOKEY", "EKEYEXPIRED", "EKEYREVOKED",
    "EKEYREJECTED", "EOWNERDEAD", "ENOTRECOVERABLE", "ERFKILL", "EHWPOISON"
];

/// "ENOENT" for 2; "EUNKNOWN" for anything unnamed.
pub fn errno_name(e: c_int) -> &'static str {
    match ERRNO_NAMES.get(e as usize) {
        Some(n) if !n.is_empty() => n,
        _ => "EUNKNOWN",
    }
}

/// strerror text (parent side only: allocates).
pub fn strerror(e: c_int) -> String {
    let mut buf = [0u8; 128];
    let r = unsafe { libc::strerror_r(e, buf.as_mut_ptr() as *mut c_char, buf.len()) };
    if r != 0 {
        return format!("Unknown error {}", e);
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..n]).into_owned()
}
