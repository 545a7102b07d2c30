//! The enforcement decision: the global policy, then each scope from outer to inner, in one
//! synchronous call (BEHAVIOUR.md §4.6, §7.4).

use napi_derive::napi;
use std::sync::Arc;
use tethered_core::{Policy, parse_ip};

use crate::policy::{CompiledPolicy, NapiResult, port_arg};
use crate::state::{CACHE, current_global};

/// The scope stack of one async context: compiled policies, outermost first. Immutable; entering
/// a scope makes a new chain that shares the parent's policies.
#[napi]
pub struct ScopeChain {
    policies: Arc<[Arc<Policy>]>,
}

#[napi]
impl ScopeChain {
    /// The chain with `policy` added innermost.
    #[napi(catch_unwind)]
    pub fn push(&self, policy: &CompiledPolicy) -> ScopeChain {
        let mut next: Vec<Arc<Policy>> = self.policies.to_vec();
        next.push(policy.inner.clone());
        ScopeChain {
            policies: next.into(),
        }
    }

    #[napi(getter)]
    pub fn depth(&self) -> u32 {
        self.policies.len() as u32
    }
}

/// A chain holding only `policy`.
#[napi(catch_unwind)]
pub fn scope_chain(policy: &CompiledPolicy) -> ScopeChain {
    ScopeChain {
        policies: Arc::from([policy.inner.clone()]),
    }
}

/// Verdicts of `checkEgress`.
pub const ALLOWED: i32 = 0;
pub const BLOCKED_BY_GLOBAL: i32 = -1;
// A non-negative verdict n >= 1 means "blocked by scope n - 1" (outermost scope is 0).

/// Decides one egress event. `port` -1 is a lookup of `host` (a name, or an IP for a reverse
/// lookup); otherwise `host` is the destination of a connect or send, and when it is an IP the
/// cache supplies the hostname it was resolved from.
#[napi(catch_unwind)]
pub fn check_egress(host: String, port: i32, scopes: Option<&ScopeChain>) -> NapiResult<i32> {
    let port = port_arg(port);
    let global = current_global()?;
    let normalized = tethered_core::normalize_host(&host);
    if port.is_none()
        && let Some(g) = &global
        && !g.local_hostname.is_empty()
        && *normalized == *g.local_hostname
    {
        return Ok(ALLOWED);
    }
    let resolved = if port.is_some() && parse_ip(&host).is_some() {
        CACHE
            .lock()
            .map_err(|_| crate::policy::poisoned())?
            .lookup(&host)
            .map(str::to_string)
    } else {
        None
    };
    let check_host: &str = resolved.as_deref().unwrap_or(&normalized);
    if let Some(g) = &global {
        let allowed = g.policy.allows_normalized(check_host, port)
            || (resolved.is_some() && g.policy.allows_normalized(&normalized, port));
        if !allowed {
            return Ok(BLOCKED_BY_GLOBAL);
        }
    }
    if let Some(chain) = scopes {
        let blocking = chain
            .policies
            .iter()
            .position(|p| !p.allows_normalized(check_host, port));
        if let Some(index) = blocking {
            let ip_passes_all = resolved.is_some()
                && chain
                    .policies
                    .iter()
                    .all(|p| p.allows_normalized(&normalized, port));
            if !ip_passes_all {
                return Ok(index as i32 + 1);
            }
        }
    }
    Ok(ALLOWED)
}
