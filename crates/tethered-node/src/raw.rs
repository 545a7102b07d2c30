//! The two hot calls — a Policy's dry-run decision and the enforcement check — as plain
//! Node-API callbacks instead of `#[napi]` methods.
//!
//! napi-rs's generated glue costs several hundred nanoseconds per call (per-call borrow
//! tracking, an object registry for `&self` receivers, a heap copy of every string argument),
//! about three times the decision itself. These callbacks read the host into a stack buffer,
//! take their policy from the function's own data pointer, and touch nothing else. Each
//! function owns its data; a finalizer releases it when the function is garbage-collected.

use napi::bindgen_prelude::ToNapiValue;
use napi::sys;
use napi::{Env, Error, Result, Status};
use napi_derive::napi;
use std::borrow::Cow;
use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::Arc;
use tethered_core::Policy;

use crate::decide::{ScopeChain, decide};
use crate::policy::{CompiledPolicy, port_arg};

/// A JS value made here, handed back to napi-rs as is.
pub struct RawValue(sys::napi_value);

impl ToNapiValue for RawValue {
    unsafe fn to_napi_value(_env: sys::napi_env, value: Self) -> Result<sys::napi_value> {
        Ok(value.0)
    }
}

/// Hostnames are at most 253 bytes: one stack buffer covers them, longer strings use the heap.
const STACK: usize = 256;

/// Reads a JS string argument. None when the value is not a string.
unsafe fn read_string<'b>(
    env: sys::napi_env,
    value: sys::napi_value,
    buf: &'b mut [u8; STACK],
) -> Option<Cow<'b, str>> {
    let mut len = 0usize;
    let status = unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            buf.as_mut_ptr().cast::<c_char>(),
            STACK,
            &mut len,
        )
    };
    if status != sys::Status::napi_ok {
        return None;
    }
    if len < STACK - 1 {
        // Node writes whole characters only, so the prefix it wrote is valid UTF-8.
        return std::str::from_utf8(&buf[..len]).ok().map(Cow::Borrowed);
    }
    let mut total = 0usize;
    if unsafe { sys::napi_get_value_string_utf8(env, value, ptr::null_mut(), 0, &mut total) }
        != sys::Status::napi_ok
    {
        return None;
    }
    let mut heap = vec![0u8; total + 1];
    let mut written = 0usize;
    let status = unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            heap.as_mut_ptr().cast::<c_char>(),
            total + 1,
            &mut written,
        )
    };
    if status != sys::Status::napi_ok {
        return None;
    }
    heap.truncate(written);
    String::from_utf8(heap).ok().map(Cow::Owned)
}

/// A number argument as i32, or -1 (no port) for anything else.
unsafe fn read_i32(env: sys::napi_env, value: sys::napi_value) -> i32 {
    let mut out = -1i32;
    if unsafe { sys::napi_get_value_int32(env, value, &mut out) } != sys::Status::napi_ok {
        return -1;
    }
    out
}

unsafe fn throw(env: sys::napi_env, type_error: bool, message: &str) -> sys::napi_value {
    let text = format!("{message}\0");
    let msg = text.as_ptr().cast::<c_char>();
    unsafe {
        if type_error {
            sys::napi_throw_type_error(env, ptr::null(), msg);
        } else {
            sys::napi_throw_error(env, ptr::null(), msg);
        }
    }
    ptr::null_mut()
}

unsafe fn int32(env: sys::napi_env, value: i32) -> sys::napi_value {
    let mut out = ptr::null_mut();
    unsafe { sys::napi_create_int32(env, value, &mut out) };
    out
}

/// Reads up to four arguments and the function's data pointer.
unsafe fn args<T>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> Option<([sys::napi_value; 4], usize, *const T)> {
    let mut argv = [ptr::null_mut(); 4];
    let mut argc = 4usize;
    let mut data: *mut c_void = ptr::null_mut();
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            &mut data,
        )
    };
    (status == sys::Status::napi_ok && !data.is_null()).then_some((
        argv,
        argc,
        data.cast::<T>().cast_const(),
    ))
}

/// Runs a callback body, turning a panic into a JS exception (never an abort).
unsafe fn contained(env: sys::napi_env, body: impl FnOnce() -> sys::napi_value) -> sys::napi_value {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(_) => unsafe { throw(env, false, crate::panic::PANIC_MESSAGE) },
    }
}

unsafe fn is_nullish(env: sys::napi_env, value: sys::napi_value) -> bool {
    let mut kind = 0;
    unsafe { sys::napi_typeof(env, value, &mut kind) };
    kind == sys::ValueType::napi_undefined || kind == sys::ValueType::napi_null
}

/// `allows(host, port, resolvedFrom?)` of one policy: 1 allowed, 0 blocked, -1 when
/// `resolvedFrom` is given for a host that is not an IP address.
unsafe extern "C" fn allows_callback(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    unsafe {
        contained(env, || {
            let Some((argv, argc, policy)) = args::<Arc<Policy>>(env, info) else {
                return throw(env, false, "tethered: bad call");
            };
            let policy: &Policy = &*policy;
            let mut host_buf = [0u8; STACK];
            let Some(host) = read_string(env, argv[0], &mut host_buf) else {
                return throw(env, true, "host must be a string");
            };
            let port = port_arg(if argc > 1 { read_i32(env, argv[1]) } else { -1 });
            let mut from_buf = [0u8; STACK];
            let verdict = if argc > 2 && !is_nullish(env, argv[2]) {
                let Some(from) = read_string(env, argv[2], &mut from_buf) else {
                    return throw(env, true, "resolvedFrom must be a string");
                };
                if tethered_core::parse_ip(&host).is_none() {
                    -1
                } else {
                    i32::from(policy.allows_resolved(&host, port, &from))
                }
            } else {
                i32::from(policy.allows(&host, port))
            };
            int32(env, verdict)
        })
    }
}

/// `check(host, port, firstScope)` for one scope chain (or none): the verdict of `decide`.
unsafe extern "C" fn check_callback(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    unsafe {
        contained(env, || {
            let Some((argv, argc, chain)) = args::<ScopeChain>(env, info) else {
                return throw(env, false, "tethered: bad call");
            };
            let chain: &ScopeChain = &*chain;
            let mut host_buf = [0u8; STACK];
            let Some(host) = read_string(env, argv[0], &mut host_buf) else {
                return throw(env, true, "host must be a string");
            };
            let port = if argc > 1 { read_i32(env, argv[1]) } else { -1 };
            let first = if argc > 2 { read_i32(env, argv[2]) } else { -1 };
            match decide(&host, port, chain, first) {
                Ok(verdict) => int32(env, verdict),
                Err(e) => throw(env, false, &e.reason),
            }
        })
    }
}

unsafe extern "C" fn release<T>(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    if !data.is_null() {
        drop(unsafe { Box::from_raw(data.cast::<T>()) });
    }
}

/// A JS function calling `callback` with `data`, which it owns until it is collected.
fn make_function<T>(
    env: &Env,
    name: &str,
    callback: sys::napi_callback,
    data: T,
) -> Result<RawValue> {
    let raw = env.raw();
    let data = Box::into_raw(Box::new(data));
    let mut function = ptr::null_mut();
    let status = unsafe {
        sys::napi_create_function(
            raw,
            name.as_ptr().cast::<c_char>(),
            name.len() as isize,
            callback,
            data.cast::<c_void>(),
            &mut function,
        )
    };
    if status != sys::Status::napi_ok {
        drop(unsafe { Box::from_raw(data) });
        return Err(Error::new(
            Status::GenericFailure,
            "tethered: cannot create a native function".to_string(),
        ));
    }
    let status = unsafe {
        sys::napi_add_finalizer(
            raw,
            function,
            data.cast::<c_void>(),
            Some(release::<T>),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if status != sys::Status::napi_ok {
        // Leaking is the safe failure here: the function may still be called.
        return Err(Error::new(
            Status::GenericFailure,
            "tethered: cannot attach a finalizer".to_string(),
        ));
    }
    Ok(RawValue(function))
}

/// The fast `allows(host, port, resolvedFrom?)` function of a compiled policy.
#[napi]
pub fn policy_checker(env: Env, policy: &CompiledPolicy) -> Result<RawValue> {
    crate::panic::guard(|| {
        make_function(&env, "allows", Some(allows_callback), policy.inner.clone())
    })
}

/// The fast `check(host, port, firstScope)` function for a scope chain (null: no scopes).
#[napi]
pub fn chain_checker(env: Env, chain: Option<&ScopeChain>) -> Result<RawValue> {
    crate::panic::guard(|| {
        make_function(
            &env,
            "check",
            Some(check_callback),
            chain.map_or_else(ScopeChain::unscoped, ScopeChain::clone),
        )
    })
}

/// `record(hostname, addresses)`: the answers of an allowed lookup into the IP -> host cache.
unsafe extern "C" fn record_callback(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    unsafe {
        contained(env, || {
            let Some((argv, argc, _)) = args::<crate::lock::Capability>(env, info) else {
                return throw(env, false, "tethered: bad call");
            };
            if argc < 2 {
                return throw(env, true, "record(hostname, addresses)");
            }
            let mut host_buf = [0u8; STACK];
            let Some(host) = read_string(env, argv[0], &mut host_buf) else {
                return throw(env, true, "hostname must be a string");
            };
            let mut length = 0u32;
            if sys::napi_get_array_length(env, argv[1], &mut length) != sys::Status::napi_ok {
                return throw(env, true, "addresses must be an array");
            }
            let name = tethered_core::normalize_host(&host);
            let Ok(mut cache) = crate::state::CACHE.lock() else {
                return throw(env, false, "tethered: internal state lock poisoned");
            };
            for i in 0..length.min(64) {
                let mut element = ptr::null_mut();
                if sys::napi_get_element(env, argv[1], i, &mut element) != sys::Status::napi_ok {
                    continue;
                }
                let mut ip_buf = [0u8; STACK];
                if let Some(ip) = read_string(env, element, &mut ip_buf) {
                    cache.insert(&ip, &name);
                }
            }
            ptr::null_mut()
        })
    }
}

/// The fast recording function; only the holder of this isolate's capability can make one.
#[napi]
pub fn recorder(env: Env, _capability: &crate::lock::Capability) -> Result<RawValue> {
    crate::panic::guard(|| {
        make_function(
            &env,
            "record",
            Some(record_callback),
            crate::lock::Capability {},
        )
    })
}
