//! tsrunc's native addon: the system calls Bun cannot make, and the container init.
//! Small and boring on purpose: one function per syscall group, no policy. N-API is declared by
//! hand in napi.rs (the symbols resolve against Bun or Node at dlopen).

mod api;
mod child;
mod napi;
mod plan;
mod sys;

use napi::*;

#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    for (name, cb) in api::FUNCTIONS {
        let mut f = core::ptr::null_mut();
        // length excludes the trailing NUL
        if napi_create_function(env, name.as_ptr() as *const _, name.len() - 1, *cb, core::ptr::null_mut(), &mut f) == NAPI_OK {
            set_prop(env, exports, name, f);
        }
    }
    // Lets index.ts refuse an addon built for another plan layout.
    set_prop(env, exports, b"planVersion\0", int32(env, plan::VERSION as i32));
    exports
}
