//! Panic containment: a Rust panic must never abort the Node process. Every exported function
//! runs inside `guard`, which turns a panic into a JS exception. Exported functions must spell
//! their return type `Result<T>`: napi-derive recognises a Result by its name, and through an
//! alias an `Err` would be returned to JS as a value instead of thrown.

use napi::{Error, Result, Status};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What JS sees when a panic was contained (here and in the raw callbacks of `raw.rs`).
pub(crate) const PANIC_MESSAGE: &str =
    "tethered: internal error in the native engine (a Rust panic was contained)";

pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(_) => Err(Error::new(
            Status::GenericFailure,
            PANIC_MESSAGE.to_string(),
        )),
    }
}
