//! Compiled allow lists handed to JS as opaque handles.

use napi::{Error, Result};
use napi_derive::napi;
use std::sync::Arc;
use tethered_core::{Policy, RuleErrorKind};

/// A compiled allow list. It has no JS constructor: only `compilePolicy` makes one, and with
/// napi8 type tags a look-alike JS object is refused where a `CompiledPolicy` is expected.
#[napi]
pub struct CompiledPolicy {
    pub(crate) inner: Arc<Policy>,
}

/// The first malformed rule of a list, for the JS error.
#[napi(object)]
pub struct RuleProblem {
    pub index: u32,
    /// `empty`, `url`, `port-range`, `matches-all` or `malformed`.
    pub kind: String,
    pub message: String,
}

fn kind_name(kind: RuleErrorKind) -> &'static str {
    match kind {
        RuleErrorKind::Empty => "empty",
        RuleErrorKind::Url => "url",
        RuleErrorKind::PortOutOfRange => "port-range",
        RuleErrorKind::MatchesAll => "matches-all",
        RuleErrorKind::Malformed => "malformed",
    }
}

/// Port as passed from JS: -1 means "no port" (a DNS lookup).
pub(crate) fn port_arg(port: i32) -> Option<u16> {
    u16::try_from(port).ok()
}

/// Compiles `rules`; on a malformed rule returns its description instead of a policy.
#[napi]
pub fn compile_policy(
    rules: Vec<String>,
    allow_localhost: bool,
) -> Result<napi::Either<CompiledPolicy, RuleProblem>> {
    crate::panic::guard(|| {
        Ok({
            match Policy::new(&rules, allow_localhost) {
                Ok(policy) => napi::Either::A(CompiledPolicy {
                    inner: Arc::new(policy),
                }),
                Err((index, e)) => napi::Either::B(RuleProblem {
                    index: index as u32,
                    kind: kind_name(e.kind).to_string(),
                    message: e.message,
                }),
            }
        })
    })
}

#[napi]
impl CompiledPolicy {
    #[napi(getter)]
    pub fn rule_count(&self) -> u32 {
        self.inner.rule_count() as u32
    }
}

/// The version of the native library, checked by the loader against the JS package.
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// True when `host` is an IP address literal for Python's `ipaddress` (zone ids accepted).
#[napi]
pub fn is_ip(host: String) -> Result<bool> {
    crate::panic::guard(|| Ok(tethered_core::parse_ip(&host).is_some()))
}

pub(crate) fn poisoned() -> Error {
    Error::new(
        napi::Status::GenericFailure,
        "tethered: internal state lock poisoned".to_string(),
    )
}
