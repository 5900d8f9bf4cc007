//! The few N-API C functions the addon uses, declared by hand (no napi-rs here). They resolve
//! against the host (Bun or Node) when the addon is dlopen'd; no link flags are needed.
//! Plus small helpers for reading arguments and building values/errors.

#![allow(non_camel_case_types)]

use core::ffi::{c_char, c_void};
use core::ptr;

#[repr(C)]
pub struct napi_env__ {
    _p: [u8; 0],
}
#[repr(C)]
pub struct napi_value__ {
    _p: [u8; 0],
}
#[repr(C)]
pub struct napi_callback_info__ {
    _p: [u8; 0],
}
#[repr(C)]
pub struct napi_deferred__ {
    _p: [u8; 0],
}
#[repr(C)]
pub struct napi_async_work__ {
    _p: [u8; 0],
}

pub type napi_env = *mut napi_env__;
pub type napi_value = *mut napi_value__;
pub type napi_callback_info = *mut napi_callback_info__;
pub type napi_deferred = *mut napi_deferred__;
pub type napi_async_work = *mut napi_async_work__;
pub type napi_status = i32;
pub const NAPI_OK: napi_status = 0;
pub const NAPI_UINT8_ARRAY: i32 = 1;

pub type napi_callback = unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value;
pub type napi_async_execute_callback = unsafe extern "C" fn(napi_env, *mut c_void);
pub type napi_async_complete_callback = unsafe extern "C" fn(napi_env, napi_status, *mut c_void);

extern "C" {
    pub fn napi_create_function(
        env: napi_env,
        name: *const c_char,
        len: usize,
        cb: napi_callback,
        data: *mut c_void,
        result: *mut napi_value,
    ) -> napi_status;
    pub fn napi_get_cb_info(
        env: napi_env,
        info: napi_callback_info,
        argc: *mut usize,
        argv: *mut napi_value,
        this_arg: *mut napi_value,
        data: *mut *mut c_void,
    ) -> napi_status;
    pub fn napi_get_value_int32(env: napi_env, v: napi_value, r: *mut i32) -> napi_status;
    pub fn napi_get_value_uint32(env: napi_env, v: napi_value, r: *mut u32) -> napi_status;
    pub fn napi_get_value_bool(env: napi_env, v: napi_value, r: *mut bool) -> napi_status;
    pub fn napi_get_value_string_utf8(
        env: napi_env,
        v: napi_value,
        buf: *mut c_char,
        bufsize: usize,
        result: *mut usize,
    ) -> napi_status;
    pub fn napi_get_typedarray_info(
        env: napi_env,
        v: napi_value,
        ty: *mut i32,
        length: *mut usize,
        data: *mut *mut c_void,
        arraybuffer: *mut napi_value,
        byte_offset: *mut usize,
    ) -> napi_status;
    pub fn napi_create_array_with_length(env: napi_env, len: usize, r: *mut napi_value) -> napi_status;
    pub fn napi_create_int32(env: napi_env, v: i32, r: *mut napi_value) -> napi_status;
    pub fn napi_create_string_utf8(env: napi_env, s: *const c_char, len: usize, r: *mut napi_value) -> napi_status;
    pub fn napi_set_named_property(env: napi_env, obj: napi_value, name: *const c_char, v: napi_value) -> napi_status;
    pub fn napi_set_element(env: napi_env, obj: napi_value, index: u32, v: napi_value) -> napi_status;
    pub fn napi_get_null(env: napi_env, r: *mut napi_value) -> napi_status;
    pub fn napi_get_undefined(env: napi_env, r: *mut napi_value) -> napi_status;
    pub fn napi_get_boolean(env: napi_env, v: bool, r: *mut napi_value) -> napi_status;
    pub fn napi_create_error(env: napi_env, code: napi_value, msg: napi_value, r: *mut napi_value) -> napi_status;
    pub fn napi_throw(env: napi_env, err: napi_value) -> napi_status;
    pub fn napi_throw_type_error(env: napi_env, code: *const c_char, msg: *const c_char) -> napi_status;
    pub fn napi_create_promise(env: napi_env, deferred: *mut napi_deferred, promise: *mut napi_value) -> napi_status;
    pub fn napi_resolve_deferred(env: napi_env, d: napi_deferred, v: napi_value) -> napi_status;
    pub fn napi_reject_deferred(env: napi_env, d: napi_deferred, v: napi_value) -> napi_status;
    pub fn napi_create_async_work(
        env: napi_env,
        resource: napi_value,
        resource_name: napi_value,
        execute: napi_async_execute_callback,
        complete: napi_async_complete_callback,
        data: *mut c_void,
        result: *mut napi_async_work,
    ) -> napi_status;
    pub fn napi_queue_async_work(env: napi_env, work: napi_async_work) -> napi_status;
    pub fn napi_delete_async_work(env: napi_env, work: napi_async_work) -> napi_status;
}

/// Marker: a JS exception is pending; the callback must return quickly.
pub struct Thrown;
pub type JsResult<T> = Result<T, Thrown>;

pub fn type_error(env: napi_env, msg: &str) -> Thrown {
    let mut m = Vec::with_capacity(msg.len() + 1);
    m.extend_from_slice(msg.as_bytes());
    m.push(0);
    unsafe { napi_throw_type_error(env, ptr::null(), m.as_ptr() as *const c_char) };
    Thrown
}

pub fn string(env: napi_env, s: &str) -> napi_value {
    let mut r = ptr::null_mut();
    unsafe { napi_create_string_utf8(env, s.as_ptr() as *const c_char, s.len(), &mut r) };
    r
}

pub fn int32(env: napi_env, v: i32) -> napi_value {
    let mut r = ptr::null_mut();
    unsafe { napi_create_int32(env, v, &mut r) };
    r
}

pub fn null(env: napi_env) -> napi_value {
    let mut r = ptr::null_mut();
    unsafe { napi_get_null(env, &mut r) };
    r
}

pub fn undefined(env: napi_env) -> napi_value {
    let mut r = ptr::null_mut();
    unsafe { napi_get_undefined(env, &mut r) };
    r
}

pub fn boolean(env: napi_env, v: bool) -> napi_value {
    let mut r = ptr::null_mut();
    unsafe { napi_get_boolean(env, v, &mut r) };
    r
}

pub fn int_array(env: napi_env, vals: &[i32]) -> napi_value {
    let mut arr = ptr::null_mut();
    unsafe {
        napi_create_array_with_length(env, vals.len(), &mut arr);
        for (i, v) in vals.iter().enumerate() {
            napi_set_element(env, arr, i as u32, int32(env, *v));
        }
    }
    arr
}

pub fn set_prop(env: napi_env, obj: napi_value, name: &[u8], v: napi_value) {
    // name must be NUL-terminated
    unsafe { napi_set_named_property(env, obj, name.as_ptr() as *const c_char, v) };
}

/// An Error whose message reads `<syscall>: <strerror> (errno N)`, with `code` ("ENOENT"),
/// `errno` (positive Linux errno) and `syscall` properties.
pub fn errno_error(env: napi_env, syscall: &str, errno: i32) -> napi_value {
    let name = crate::sys::errno_name(errno);
    let msg = format!("{}: {} (errno {})", syscall, crate::sys::strerror(errno), errno);
    let mut err = ptr::null_mut();
    unsafe { napi_create_error(env, string(env, name), string(env, &msg), &mut err) };
    set_prop(env, err, b"errno\0", int32(env, errno));
    set_prop(env, err, b"syscall\0", string(env, syscall));
    err
}

pub fn throw_errno(env: napi_env, syscall: &str, errno: i32) -> Thrown {
    unsafe { napi_throw(env, errno_error(env, syscall, errno)) };
    Thrown
}

/// A plain Error with a given code (no errno).
pub fn throw_plain(env: napi_env, code: &str, msg: &str) -> Thrown {
    let mut err = ptr::null_mut();
    unsafe {
        napi_create_error(env, string(env, code), string(env, msg), &mut err);
        napi_throw(env, err);
    }
    Thrown
}

pub const MAX_ARGS: usize = 5;

/// Fetch up to MAX_ARGS arguments; missing ones are null pointers.
pub fn args(env: napi_env, info: napi_callback_info) -> [napi_value; MAX_ARGS] {
    let mut argv = [ptr::null_mut(); MAX_ARGS];
    let mut argc = MAX_ARGS;
    unsafe { napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), ptr::null_mut()) };
    for a in argv.iter_mut().skip(argc) {
        *a = ptr::null_mut();
    }
    argv
}

pub fn arg_i32(env: napi_env, v: napi_value, what: &str) -> JsResult<i32> {
    let mut r = 0i32;
    if v.is_null() || unsafe { napi_get_value_int32(env, v, &mut r) } != NAPI_OK {
        return Err(type_error(env, &format!("{} must be a number", what)));
    }
    Ok(r)
}

pub fn arg_u32(env: napi_env, v: napi_value, what: &str) -> JsResult<u32> {
    let mut r = 0u32;
    if v.is_null() || unsafe { napi_get_value_uint32(env, v, &mut r) } != NAPI_OK {
        return Err(type_error(env, &format!("{} must be a number", what)));
    }
    Ok(r)
}

pub fn arg_bool(env: napi_env, v: napi_value, what: &str) -> JsResult<bool> {
    let mut r = false;
    if v.is_null() || unsafe { napi_get_value_bool(env, v, &mut r) } != NAPI_OK {
        return Err(type_error(env, &format!("{} must be a boolean", what)));
    }
    Ok(r)
}

pub fn arg_string(env: napi_env, v: napi_value, what: &str) -> JsResult<Vec<u8>> {
    let mut len = 0usize;
    if v.is_null() || unsafe { napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut len) } != NAPI_OK {
        return Err(type_error(env, &format!("{} must be a string", what)));
    }
    let mut buf = vec![0u8; len + 1];
    let mut got = 0usize;
    unsafe { napi_get_value_string_utf8(env, v, buf.as_mut_ptr() as *mut c_char, len + 1, &mut got) };
    buf.truncate(got);
    Ok(buf)
}

/// Borrow the bytes of a Uint8Array (or Buffer). Valid for the duration of the call.
pub fn arg_bytes<'a>(env: napi_env, v: napi_value, what: &str) -> JsResult<&'a [u8]> {
    let mut ty = -1i32;
    let mut len = 0usize;
    let mut data: *mut c_void = ptr::null_mut();
    let mut ab = ptr::null_mut();
    let mut off = 0usize;
    if v.is_null()
        || unsafe { napi_get_typedarray_info(env, v, &mut ty, &mut len, &mut data, &mut ab, &mut off) } != NAPI_OK
        || ty != NAPI_UINT8_ARRAY
    {
        return Err(type_error(env, &format!("{} must be a Uint8Array", what)));
    }
    if len == 0 || data.is_null() {
        return Ok(&[]);
    }
    Ok(unsafe { core::slice::from_raw_parts(data as *const u8, len) })
}
