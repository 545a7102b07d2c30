//! tethered-core: the allow-list engine of tethered for Node.js, with no Node-API in it.
//!
//! It reproduces the rule syntax and matching semantics of the Python *tethered* library
//! (see `BEHAVIOUR.md`), is stricter where upstream silently accepts a malformed rule, and
//! keeps decision cost nearly flat as the allow list grows.

mod cache;
mod fnmatch;
mod ip;
mod memo;
mod netset;
mod normalize;
mod overlap;
mod policy;
mod ports;
mod pytext;
mod rule;
mod wildcard;

pub use cache::{IP_CACHE_CAPACITY, IpHostCache};
pub use fnmatch::Pattern;
pub use ip::{parse_ip, parse_network};
pub use memo::DecisionMemo;
pub use normalize::{has_invalid_chars, is_localhost, normalize_host};
pub use overlap::{Overlap, scope_rule_overlap};
pub use policy::Policy;
pub use rule::{Rule, RuleError, RuleErrorKind, parse_rule};
