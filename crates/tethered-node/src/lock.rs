//! Locked mode and the shims' capability, held in native memory out of JS's reach.
//!
//! The lock is process-wide (every worker and every copy of the JS module sees it). Its token is
//! a JS object compared by identity: a reference to it is kept per isolate (one isolate per
//! thread), so only the isolate that locked can unlock, and only with the same object.
//!
//! The capability is minted once per isolate, to the first copy of tethered's JS that asks (the
//! one loaded before application code). Operations that could widen the policy without the
//! token, such as recording IP -> hostname answers, require it.

use napi::{Env, Error, Result};
use napi::{Unknown, UnknownRef};
use napi_derive::napi;

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) static LOCKED: AtomicBool = AtomicBool::new(false);
pub(crate) static TAMPERED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static TOKEN: RefCell<Option<UnknownRef<false>>> = const { RefCell::new(None) };
    static CLAIMED: Cell<bool> = const { Cell::new(false) };
}

/// Proof that the holder is the copy of tethered that installed this isolate's shims.
#[napi]
pub struct Capability {}

/// The capability, the first time it is asked for in this isolate; null afterwards.
#[napi]
pub fn claim() -> Result<Option<Capability>> {
    crate::panic::guard(|| {
        Ok(CLAIMED.with(|claimed| (!claimed.replace(true)).then_some(Capability {})))
    })
}

pub(crate) fn locked_error() -> Error {
    Error::new(
        napi::Status::GenericFailure,
        "ERR_TETHERED_LOCKED: the policy is locked; pass the same lockToken".to_string(),
    )
}

/// Does `token` unlock the current lock? Always true when nothing is locked.
pub(crate) fn token_matches(env: &Env, token: &Unknown<'_>) -> Result<bool> {
    if !LOCKED.load(Ordering::SeqCst) {
        return Ok(true);
    }
    TOKEN.with(|stored| match &*stored.borrow() {
        Some(reference) => {
            let value = reference.get_value(env)?;
            env.strict_equals(value, *token)
        }
        None => Ok(false),
    })
}

/// Sets or clears the lock after a successful token check; `token` becomes the new key.
pub(crate) fn relock(env: &Env, locked: bool, token: Option<UnknownRef<false>>) -> Result<()> {
    TOKEN.with(|stored| -> Result<()> {
        if let Some(old) = stored.borrow_mut().take() {
            old.unref(env)?;
        }
        if locked {
            *stored.borrow_mut() = token;
        } else if let Some(unused) = token {
            unused.unref(env)?;
        }
        Ok(())
    })?;
    LOCKED.store(locked, Ordering::SeqCst);
    TAMPERED.store(false, Ordering::SeqCst);
    Ok(())
}

/// Marks the shims as tampered with: from now on every connection and lookup is blocked, in
/// every thread, until a token-authenticated activate() or deactivate(). Returns true the
/// first time (so the alert is written once).
#[napi]
pub fn report_tamper() -> Result<bool> {
    crate::panic::guard(|| Ok(!TAMPERED.swap(true, Ordering::SeqCst)))
}
