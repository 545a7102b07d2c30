//! Process-wide enforcement state, shared by the main thread and every worker thread.

use napi::Env;
use napi::{Unknown, UnknownRef};
use napi_derive::napi;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use tethered_core::{IpHostCache, Policy};

use crate::lock::{LOCKED, TAMPERED, locked_error, relock, token_matches};
use napi::Result;

use crate::policy::{CompiledPolicy, poisoned};

/// The policy set by `activate()`, with the options the decision itself needs.
pub(crate) struct Global {
    pub policy: Arc<Policy>,
    /// Normalized `os.hostname()`: lookups of it are exempt (BEHAVIOUR.md §6.4); empty = none.
    pub local_hostname: String,
    /// Report instead of blocking.
    pub log_only: bool,
    /// Block when a check fails internally.
    pub fail_closed: bool,
    /// The settings as given, for the payload that child processes inherit.
    pub settings: GlobalSettings,
}

/// The options of the global policy that every thread's shims need.
#[napi(object)]
pub struct GlobalFlags {
    pub active: bool,
    pub log_only: bool,
    pub fail_closed: bool,
    pub locked: bool,
    pub tampered: bool,
}

pub(crate) static GLOBAL: RwLock<Option<Arc<Global>>> = RwLock::new(None);
/// Bumped whenever the global policy is set or removed: decisions memoized under an older
/// epoch are not used again (see `decide.rs`). Starts at 1; 0 means "never memoize".
pub(crate) static POLICY_EPOCH: AtomicU64 = AtomicU64::new(1);
pub(crate) static CACHE: LazyLock<Mutex<IpHostCache>> = LazyLock::new(Default::default);

pub(crate) fn current_global() -> Result<Option<Arc<Global>>> {
    Ok(GLOBAL.read().map_err(|_| poisoned())?.clone())
}

/// The options of `setGlobalPolicy` besides the policy itself.
#[napi(object)]
#[derive(Clone)]
pub struct GlobalSettings {
    /// The rules as given (the policy was compiled from them).
    pub allow: Vec<String>,
    pub allow_localhost: bool,
    /// `warn`, `allow` or `block`.
    pub external_subprocess_policy: String,
    /// `os.hostname()`, exempt from lookup checks.
    pub local_hostname: String,
    pub log_only: bool,
    pub fail_closed: bool,
    /// Lock the new policy with `new_token`.
    pub locked: bool,
}

/// Installs (or with `None`, removes) the global policy; the IP cache is cleared with it.
/// While locked, `token` must be the locking object; `new_token` locks the new policy.
#[napi]
pub fn set_global_policy(
    env: Env,
    token: Unknown<'_>,
    policy: Option<&CompiledPolicy>,
    settings: GlobalSettings,
    new_token: Option<UnknownRef<false>>,
) -> Result<()> {
    crate::panic::guard(|| {
        if !token_matches(&env, &token)? {
            if let Some(unused) = new_token {
                unused.unref(&env)?;
            }
            return Err(locked_error());
        }
        let locked = settings.locked && policy.is_some() && new_token.is_some();
        let next = policy.map(|p| {
            Arc::new(Global {
                policy: p.inner.clone(),
                local_hostname: tethered_core::normalize_host(&settings.local_hostname)
                    .into_owned(),
                log_only: settings.log_only,
                fail_closed: settings.fail_closed,
                settings: settings.clone(),
            })
        });
        let mut global = GLOBAL.write().map_err(|_| poisoned())?;
        let mut cache = CACHE.lock().map_err(|_| poisoned())?;
        *global = next;
        POLICY_EPOCH.fetch_add(1, Ordering::SeqCst);
        cache.clear();
        relock(&env, locked, new_token)
    })
}

/// The settings of the active global policy (what child processes inherit), read from native
/// memory so that JS cannot alter what a child receives.
#[napi]
pub fn global_settings() -> Result<Option<GlobalSettings>> {
    crate::panic::guard(|| {
        Ok(current_global()?.map(|g| {
            let mut settings = g.settings.clone();
            settings.locked = LOCKED.load(Ordering::SeqCst);
            settings
        }))
    })
}

/// True when `token` would unlock the current lock (or nothing is locked).
#[napi]
pub fn unlocks(env: Env, token: Unknown<'_>) -> Result<bool> {
    crate::panic::guard(|| token_matches(&env, &token))
}

/// Whether a global policy is active (in any thread of the process) and its options.
#[napi]
pub fn global_flags() -> Result<GlobalFlags> {
    crate::panic::guard(|| {
        Ok(match current_global()? {
            Some(g) => GlobalFlags {
                active: true,
                log_only: g.log_only,
                fail_closed: g.fail_closed,
                locked: LOCKED.load(Ordering::SeqCst),
                tampered: TAMPERED.load(Ordering::SeqCst),
            },
            None => GlobalFlags {
                active: false,
                log_only: false,
                fail_closed: false,
                locked: false,
                tampered: TAMPERED.load(Ordering::SeqCst),
            },
        })
    })
}

/// The hostname an IP was resolved from, if the cache knows it.
#[napi]
pub fn resolved_from(ip: String) -> Result<Option<String>> {
    crate::panic::guard(|| {
        let mut cache = CACHE.lock().map_err(|_| poisoned())?;
        Ok(cache.lookup(&ip).map(str::to_string))
    })
}
