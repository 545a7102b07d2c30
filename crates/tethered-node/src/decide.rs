//! The enforcement decision: the global policy, then each scope from outer to inner, in one
//! synchronous call (BEHAVIOUR.md §4.6, §7.4).

use napi_derive::napi;
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tethered_core::{DecisionMemo, Policy, parse_ip};

use napi::Result;

use crate::policy::{CompiledPolicy, poisoned, port_arg};
use crate::state::{CACHE, POLICY_EPOCH, current_global};

/// Scope chains get ids from 1 (0 is "no scopes"): the decision memo tells chains apart by id,
/// never by address (a freed chain's address can be reused by a new one).
static NEXT_CHAIN_ID: AtomicU64 = AtomicU64::new(1);

fn next_chain_id() -> u64 {
    NEXT_CHAIN_ID.fetch_add(1, Ordering::Relaxed)
}

thread_local! {
    static MEMO: RefCell<DecisionMemo> = RefCell::new(DecisionMemo::default());
}

/// The scope stack of one async context: compiled policies, outermost first. Immutable; entering
/// a scope makes a new chain that shares the parent's policies. The fast checker holds a clone.
#[napi]
#[derive(Clone)]
pub struct ScopeChain {
    pub(crate) policies: Arc<[Arc<Policy>]>,
    pub(crate) id: u64,
}

impl ScopeChain {
    /// No scopes: what the fast checker of code outside any scope() holds.
    pub(crate) fn unscoped() -> Self {
        ScopeChain {
            policies: Arc::from([]),
            id: 0,
        }
    }
}

#[napi]
impl ScopeChain {
    /// The chain with `policy` added innermost.
    #[napi]
    pub fn push(&self, policy: &CompiledPolicy) -> Result<ScopeChain> {
        crate::panic::guard(|| {
            Ok({
                let mut next: Vec<Arc<Policy>> = self.policies.to_vec();
                next.push(policy.inner.clone());
                ScopeChain {
                    policies: next.into(),
                    id: next_chain_id(),
                }
            })
        })
    }
}

/// A chain holding only `policy`.
#[napi]
pub fn scope_chain(policy: &CompiledPolicy) -> Result<ScopeChain> {
    crate::panic::guard(|| {
        Ok({
            ScopeChain {
                policies: Arc::from([policy.inner.clone()]),
                id: next_chain_id(),
            }
        })
    })
}

/// Verdicts of `checkEgress`.
pub const ALLOWED: i32 = 0;
pub const BLOCKED_BY_GLOBAL: i32 = -1;
pub const REPORTED_BY_GLOBAL: i32 = -2;
// A verdict n >= 1 means "blocked by scope n - 1" (the outermost scope is 0).

/// The enforcement decision behind the fast chain checkers (see `raw.rs`), answered from this
/// thread's memo when the same target was allowed under the same policies just before.
pub(crate) fn decide(host: &str, port: i32, chain: &ScopeChain, first_scope: i32) -> Result<i32> {
    if crate::lock::TAMPERED.load(Ordering::SeqCst) {
        return Ok(BLOCKED_BY_GLOBAL);
    }
    if first_scope >= 0 {
        return decide_fully(host, port, &chain.policies, first_scope).map(|(v, _)| v);
    }
    let epoch = POLICY_EPOCH.load(Ordering::SeqCst);
    if MEMO.with(|m| m.borrow().allowed(epoch, chain.id, host, port)) {
        return Ok(ALLOWED);
    }
    let (verdict, memoizable) = decide_fully(host, port, &chain.policies, first_scope)?;
    if verdict == ALLOWED && memoizable {
        MEMO.with(|m| m.borrow_mut().remember(epoch, chain.id, host, port));
    }
    Ok(verdict)
}

/// The decision itself, and whether it may be memoized: an allow that did not depend on the
/// IP -> hostname cache (which changes with every lookup). An IP allowed by its own rules stays
/// allowed whatever the cache later says: the name is only ever an extra way to be allowed.
fn decide_fully(
    host: &str,
    port: i32,
    chain: &[Arc<Policy>],
    first_scope: i32,
) -> Result<(i32, bool)> {
    let port = port_arg(port);
    let global = current_global()?;
    let normalized = tethered_core::normalize_host(host);
    if port.is_none()
        && let Some(g) = &global
        && !g.local_hostname.is_empty()
        && *normalized == *g.local_hostname
    {
        return Ok((ALLOWED, true));
    }
    // Copied out, so the cache is not locked while the rules are matched (other threads).
    let resolved = if port.is_some() && parse_ip(host).is_some() {
        CACHE
            .lock()
            .map_err(|_| poisoned())?
            .lookup(host)
            .map(str::to_string)
    } else {
        None
    };
    let check_host: &str = resolved.as_deref().unwrap_or(&normalized);
    if first_scope < 0
        && let Some(g) = &global
    {
        let allowed = g.policy.allows_normalized(check_host, port)
            || (resolved.is_some() && g.policy.allows_normalized(&normalized, port));
        if !allowed {
            let verdict = if g.log_only {
                REPORTED_BY_GLOBAL
            } else {
                BLOCKED_BY_GLOBAL
            };
            return Ok((verdict, false));
        }
    }
    let memoizable = resolved.is_none();
    let start = usize::try_from(first_scope).unwrap_or(0);
    let rest = chain.get(start..).unwrap_or_default();
    if let Some(offset) = rest
        .iter()
        .position(|p| !p.allows_normalized(check_host, port))
    {
        // Across scopes the alternatives are "all allow the name" or "all allow the IP".
        let ip_passes_all =
            resolved.is_some() && rest.iter().all(|p| p.allows_normalized(&normalized, port));
        if !ip_passes_all {
            return Ok(((start + offset) as i32 + 1, false));
        }
    }
    Ok((ALLOWED, memoizable))
}

/// For each raw scope rule: 0 when the global policy can allow all of it (or there is no global
/// policy), 1 when only a part of it, 2 when none of it (the warnings of BEHAVIOUR.md §7.7).
#[napi]
pub fn scope_overlap(rules: Vec<String>) -> Result<Vec<u32>> {
    crate::panic::guard(|| {
        let Some(global) = current_global()? else {
            return Ok(vec![0; rules.len()]);
        };
        Ok(rules
            .iter()
            .map(
                |raw| match tethered_core::scope_rule_overlap(&global.policy, raw) {
                    tethered_core::Overlap::Full => 0,
                    tethered_core::Overlap::Partial => 1,
                    tethered_core::Overlap::None => 2,
                },
            )
            .collect())
    })
}
