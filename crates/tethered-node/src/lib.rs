//! tethered-node: the Node-API binding of tethered-core. Type conversion, error codes and the
//! process-wide state (the global policy and the IP -> hostname cache) that every worker thread
//! shares, because the `.node` library is loaded once per process.

mod decide;
mod lock;
mod panic;
mod policy;
mod raw;
mod state;

pub use decide::*;
pub use lock::*;
pub use policy::*;
pub use raw::*;
pub use state::*;
