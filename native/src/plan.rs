//! Parses the flat plan buffer written by src/native/encode.ts into owned Rust structures.
//! Runs in the parent, where allocation is fine; the child only reads what is built here.
//!
//! Layout (little-endian; keep in sync with encode.ts):
//!   header: u32 MAGIC, u32 VERSION, u64 cloneFlags, str rootfs, u32 opCount
//!   op:     u32 code, then the op's fields in the order listed in `parse_op`
//!   u32, u64 fixed width; bool = u32 0/1; str = u32 byte length + UTF-8 bytes (no NUL);
//!   optstr = str, or u32 0xFFFFFFFF for null; strs = u32 count + str*; bytes = u32 length + bytes;
//!   u32s = u32 count + u32*.

use crate::sys::MountAttr;
use core::ffi::c_char;
use std::ffi::CString;

pub const MAGIC: u32 = 0x4952_5354; // "TSRI" read as little-endian bytes
pub const VERSION: u32 = 4;
pub const SLOTS: usize = 8;
pub const PATH_MAX: usize = 4096;
const NULL_STR: u32 = 0xFFFF_FFFF;

pub mod code {
    pub const SETNS: u32 = 1;
    pub const UNSHARE: u32 = 2;
    pub const SYNC: u32 = 3;
    pub const FORK_PARENT: u32 = 4;
    pub const MKDIR_ALL: u32 = 5;
    pub const TOUCH: u32 = 6;
    pub const MOUNT: u32 = 7;
    pub const MOUNT_SETATTR: u32 = 8;
    pub const MASK_PATH: u32 = 9;
    pub const MKNOD: u32 = 10;
    pub const SYMLINK: u32 = 11;
    pub const PIVOT_ROOT: u32 = 12;
    pub const MOVE_ROOT: u32 = 13;
    pub const WRITE_FILE: u32 = 14;
    pub const SETHOSTNAME: u32 = 15;
    pub const SETDOMAINNAME: u32 = 16;
    pub const SETRLIMIT: u32 = 17;
    pub const PERSONALITY: u32 = 18;
    pub const PRCTL: u32 = 19;
    pub const CAPSET: u32 = 20;
    pub const SETGROUPS: u32 = 21;
    pub const SETRESGID: u32 = 22;
    pub const SETRESUID: u32 = 23;
    pub const UMASK: u32 = 24;
    pub const CHDIR: u32 = 25;
    pub const SETSID: u32 = 26;
    pub const CLOEXEC_FROM: u32 = 27;
    pub const INHERIT_FDS: u32 = 28;
    pub const OPEN_PATH: u32 = 29;
    pub const WAIT_START: u32 = 30;
    pub const CONSOLE: u32 = 31;
    pub const SECCOMP: u32 = 32;
    pub const CHECK_EXEC: u32 = 33;
    pub const EXEC: u32 = 34;
    pub const DUP2: u32 = 35;
    pub const JOIN_SESSION_KEYRING: u32 = 36;
    pub const TRY_CHDIR: u32 = 37;
    pub const RETRY_CHDIR: u32 = 38;
}

/// A path as the child uses it. For inRoot paths `c` is relative to the root (leading slashes
/// stripped, "" becomes "."); otherwise it is the path as given.
pub struct Path {
    pub c: CString,
    pub in_root: bool,
}

impl Path {
    pub fn ptr(&self) -> *const c_char {
        self.c.as_ptr()
    }
    pub fn bytes(&self) -> &[u8] {
        self.c.as_bytes()
    }
}

pub struct Argv {
    _strings: Vec<CString>,
    /// NULL-terminated array of pointers into `_strings` (heap buffers: stable across moves).
    pub ptrs: Vec<*const c_char>,
}

pub enum Op {
    Setns { path: CString, nstype: u32 },
    Unshare { flags: u32 },
    Sync { tag: u32 },
    ForkParent,
    MkdirAll { path: Path, mode: u32 },
    Touch { path: Path, mode: u32 },
    Mount { source: Option<CString>, target: Path, fstype: Option<CString>, flags: u64, data: Option<CString>, optional: bool },
    MountSetattr { target: Path, attr: MountAttr, recursive: bool, optional: bool },
    MaskPath { path: Path },
    Mknod { path: Path, mode: u32, dev: u64, uid: u32, gid: u32 },
    Symlink { target: CString, linkpath: Path },
    PivotRoot { rootfs: CString },
    MoveRoot { rootfs: CString },
    WriteFile { path: CString, data: Vec<u8>, optional: bool },
    Sethostname { name: Vec<u8> },
    Setdomainname { name: Vec<u8> },
    Setrlimit { resource: u32, limit: [u64; 2] },
    Personality { persona: u64 },
    Prctl { option: u32, arg2: u64, arg3: u64 },
    Capset { data: [u32; 6] },
    Setgroups { gids: Vec<u32> },
    Setresgid { gid: u32 },
    Setresuid { uid: u32 },
    Umask { mask: u32 },
    Chdir { path: CString },
    TryChdir { path: CString },
    RetryChdir { path: CString },
    Setsid,
    CloexecFrom { from: u32 },
    InheritFds { from: u32, to: u32 },
    OpenPath { path: CString, slot: usize },
    WaitStart { dir_fd: i32, name: CString },
    /// rows/cols: the pty's size before the master is sent (0: the kernel's default).
    Console { socket_fd: i32, ptmx_path: CString, rows: u16, cols: u16 },
    Seccomp { flags: u32, filter: Vec<libc::sock_filter> },
    CheckExec { candidates: Vec<CString> },
    Exec { candidates: Vec<CString>, argv: Argv, envp: Argv },
    Dup2 { from: i32, to: i32 },
    JoinSessionKeyring { name: CString, perm: u32 },
}

pub struct Plan {
    pub clone_flags: u64,
    pub rootfs: CString,
    pub ops: Vec<Op>,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, String>;

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if self.buf.len() - self.pos < n {
            return Err(format!("plan truncated at byte {}", self.pos));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u32(&mut self) -> R<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u16(&mut self) -> R<u16> {
        let v = self.u32()?;
        u16::try_from(v).map_err(|_| format!("bad u16 {} at byte {}", v, self.pos - 4))
    }
    fn u64(&mut self) -> R<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn bool(&mut self) -> R<bool> {
        match self.u32()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(format!("bad bool {} at byte {}", v, self.pos - 4)),
        }
    }
    fn raw(&mut self) -> R<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn cstr(&mut self) -> R<CString> {
        let b = self.raw()?;
        CString::new(b).map_err(|_| "string contains a NUL byte".to_string())
    }
    fn opt_cstr(&mut self) -> R<Option<CString>> {
        let n = self.u32()?;
        if n == NULL_STR {
            return Ok(None);
        }
        let b = self.take(n as usize)?;
        CString::new(b).map(Some).map_err(|_| "string contains a NUL byte".to_string())
    }
    fn path(&mut self) -> R<CString> {
        let c = self.cstr()?;
        if c.as_bytes().is_empty() {
            return Err("empty path".into());
        }
        if c.as_bytes().len() >= PATH_MAX {
            return Err("path too long".into());
        }
        Ok(c)
    }
    /// A path followed later by its inRoot flag: read the string now, fix it up with `mk_path`.
    fn strs(&mut self) -> R<Vec<CString>> {
        let n = self.u32()? as usize;
        if n > self.buf.len() {
            return Err("bad string count".into());
        }
        (0..n).map(|_| self.cstr()).collect()
    }
}

fn mk_path(c: CString, in_root: bool) -> R<Path> {
    if !in_root {
        return Ok(Path { c, in_root });
    }
    let b = c.as_bytes();
    let start = b.iter().position(|&x| x != b'/').unwrap_or(b.len());
    let rel = if start == b.len() { b".".to_vec() } else { b[start..].to_vec() };
    Ok(Path { c: CString::new(rel).map_err(|_| "NUL in path")?, in_root })
}

fn argv(strings: Vec<CString>) -> Argv {
    let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
    ptrs.push(core::ptr::null());
    Argv { _strings: strings, ptrs }
}

fn slot(v: u32) -> R<usize> {
    if (v as usize) < SLOTS {
        Ok(v as usize)
    } else {
        Err(format!("slot {} out of range 0..{}", v, SLOTS))
    }
}

fn parse_op(r: &mut Reader) -> R<Op> {
    use code::*;
    let c = r.u32()?;
    Ok(match c {
        SETNS => Op::Setns { path: r.path()?, nstype: r.u32()? },
        UNSHARE => Op::Unshare { flags: r.u32()? },
        SYNC => Op::Sync { tag: r.u32()? },
        FORK_PARENT => Op::ForkParent,
        MKDIR_ALL => {
            let (p, mode, ir) = (r.path()?, r.u32()?, r.bool()?);
            Op::MkdirAll { path: mk_path(p, ir)?, mode }
        }
        TOUCH => {
            let (p, mode, ir) = (r.path()?, r.u32()?, r.bool()?);
            Op::Touch { path: mk_path(p, ir)?, mode }
        }
        MOUNT => {
            let source = r.opt_cstr()?;
            let target = r.path()?;
            let fstype = r.opt_cstr()?;
            let flags = r.u64()?;
            let data = r.opt_cstr()?;
            let ir = r.bool()?;
            let optional = r.bool()?;
            Op::Mount { source, target: mk_path(target, ir)?, fstype, flags, data, optional }
        }
        MOUNT_SETATTR => {
            let target = r.path()?;
            let attr = MountAttr { attr_set: r.u64()?, attr_clr: r.u64()?, propagation: r.u64()?, userns_fd: 0 };
            let recursive = r.bool()?;
            let ir = r.bool()?;
            let optional = r.bool()?;
            Op::MountSetattr { target: mk_path(target, ir)?, attr, recursive, optional }
        }
        MASK_PATH => Op::MaskPath { path: mk_path(r.path()?, true)? },
        MKNOD => {
            let p = r.path()?;
            let (mode, major, minor, uid, gid, ir) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?, r.u32()?, r.bool()?);
            Op::Mknod { path: mk_path(p, ir)?, mode, dev: libc::makedev(major, minor), uid, gid }
        }
        SYMLINK => {
            let target = r.cstr()?;
            let (lp, ir) = (r.path()?, r.bool()?);
            Op::Symlink { target, linkpath: mk_path(lp, ir)? }
        }
        PIVOT_ROOT => Op::PivotRoot { rootfs: r.path()? },
        MOVE_ROOT => Op::MoveRoot { rootfs: r.path()? },
        WRITE_FILE => Op::WriteFile { path: r.path()?, data: r.raw()?.to_vec(), optional: r.bool()? },
        SETHOSTNAME => Op::Sethostname { name: r.raw()?.to_vec() },
        SETDOMAINNAME => Op::Setdomainname { name: r.raw()?.to_vec() },
        SETRLIMIT => Op::Setrlimit { resource: r.u32()?, limit: [r.u64()?, r.u64()?] },
        PERSONALITY => Op::Personality { persona: r.u64()? },
        PRCTL => Op::Prctl { option: r.u32()?, arg2: r.u64()?, arg3: r.u64()? },
        CAPSET => {
            let (e, p, i) = (r.u64()?, r.u64()?, r.u64()?);
            // struct __user_cap_data_struct[2]: {effective, permitted, inheritable} low then high.
            Op::Capset { data: [e as u32, p as u32, i as u32, (e >> 32) as u32, (p >> 32) as u32, (i >> 32) as u32] }
        }
        SETGROUPS => {
            let n = r.u32()? as usize;
            if n > 65536 {
                return Err("too many groups".into());
            }
            Op::Setgroups { gids: (0..n).map(|_| r.u32()).collect::<R<_>>()? }
        }
        SETRESGID => Op::Setresgid { gid: r.u32()? },
        SETRESUID => Op::Setresuid { uid: r.u32()? },
        UMASK => Op::Umask { mask: r.u32()? },
        CHDIR => Op::Chdir { path: r.path()? },
        TRY_CHDIR => Op::TryChdir { path: r.path()? },
        RETRY_CHDIR => Op::RetryChdir { path: r.path()? },
        SETSID => Op::Setsid,
        CLOEXEC_FROM => Op::CloexecFrom { from: r.u32()? },
        INHERIT_FDS => Op::InheritFds { from: r.u32()?, to: r.u32()? },
        OPEN_PATH => Op::OpenPath { path: r.path()?, slot: slot(r.u32()?)? },
        WAIT_START => Op::WaitStart { dir_fd: r.u32()? as i32, name: r.cstr()? },
        CONSOLE => Op::Console { socket_fd: r.u32()? as i32, ptmx_path: r.path()?, rows: r.u16()?, cols: r.u16()? },
        SECCOMP => {
            let flags = r.u32()?;
            let prog = r.raw()?;
            if prog.len() % 8 != 0 || prog.is_empty() || prog.len() / 8 > 4096 {
                return Err("seccomp program must be 1..4096 instructions of 8 bytes".into());
            }
            let filter = prog
                .chunks_exact(8)
                .map(|b| libc::sock_filter {
                    code: u16::from_le_bytes([b[0], b[1]]),
                    jt: b[2],
                    jf: b[3],
                    k: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
                })
                .collect();
            Op::Seccomp { flags, filter }
        }
        CHECK_EXEC => Op::CheckExec { candidates: r.strs()? },
        EXEC => Op::Exec { candidates: r.strs()?, argv: argv(r.strs()?), envp: argv(r.strs()?) },
        DUP2 => Op::Dup2 { from: r.u32()? as i32, to: r.u32()? as i32 },
        JOIN_SESSION_KEYRING => Op::JoinSessionKeyring { name: r.cstr()?, perm: r.u32()? },
        other => return Err(format!("unknown op code {}", other)),
    })
}

pub fn parse(buf: &[u8]) -> R<Plan> {
    let mut r = Reader { buf, pos: 0 };
    if r.u32()? != MAGIC {
        return Err("bad plan magic".into());
    }
    let v = r.u32()?;
    if v != VERSION {
        return Err(format!("plan version {} (addon expects {})", v, VERSION));
    }
    let clone_flags = r.u64()?;
    let rootfs = r.path()?;
    let n = r.u32()? as usize;
    if n > buf.len() {
        return Err("bad op count".into());
    }
    let mut ops = Vec::with_capacity(n);
    for i in 0..n {
        let op = parse_op(&mut r).map_err(|e| format!("op {}: {}", i, e))?;
        if matches!(op, Op::Exec { .. }) && i + 1 != n {
            return Err(format!("op {}: exec must be the last op", i));
        }
        ops.push(op);
    }
    if r.pos != buf.len() {
        return Err(format!("{} trailing bytes after the plan", buf.len() - r.pos));
    }
    Ok(Plan { clone_flags, rootfs, ops })
}
