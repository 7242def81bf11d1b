//! Flink's scalar functions in the planner's session, and the Flink syntax
//! rewritten into their calls ([`rewrite_query`]). The functions
//! themselves live in `rtdw-functions`, which task managers share.

mod syntax;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use datafusion::execution::session_state::SessionStateBuilder;
use rtdw_functions::ScalarFunctions;

pub(crate) use syntax::rewrite_query;

/// Makes a session being built with DataFusion's default features call
/// [`ScalarFunctions::all`]: DataFusion's functions, Flink's replacing
/// those of the same names. A task manager resolves the calls of a shipped
/// plan in the same list.
pub(crate) fn register(builder: SessionStateBuilder) -> SessionStateBuilder {
    builder.with_scalar_functions(ScalarFunctions::all())
}
