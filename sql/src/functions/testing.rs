//! Evaluates queries with Flink's functions, for the tests of each family.

use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::{register, rewrite_query};

/// Flink's TIMESTAMP_LTZ(3): milliseconds in UTC.
pub(super) fn timestamp_ltz() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// Flink's TIMESTAMP(3).
pub(super) fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

/// A session configured as the planner's, with Flink's functions.
pub(super) fn context() -> SessionContext {
    let mut config = SessionConfig::new();
    let sql = &mut config.options_mut().sql_parser;
    sql.enable_ident_normalization = false;
    sql.map_string_types_to_utf8view = false;
    let builder = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features();
    SessionContext::new_with_state(register(builder).build())
}

/// The logical plan of a query, Flink syntax rewritten.
pub(super) async fn plan(sql: &str) -> Result<LogicalPlan, String> {
    let statement = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| e.to_string())?
        .pop()
        .ok_or("no statement")?;
    let Statement::Query(mut query) = statement else {
        return Err(format!("not a query: {sql}"));
    };
    rewrite_query(&mut query).map_err(|e| e.to_string())?;
    context()
        .state()
        .statement_to_plan(DfStatement::Statement(Box::new(Statement::Query(query))))
        .await
        .map_err(|e| e.to_string())
}

/// The types of the columns of a query; panics on errors.
pub(super) async fn types(sql: &str) -> Vec<DataType> {
    let plan = plan(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    plan.schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect()
}

/// The rows of a query, each value as text: NULL as `NULL`, timestamps as
/// `2024-03-05 07:08:09.123`; or the planning or execution error.
pub(super) async fn query(sql: &str) -> Result<Vec<Vec<String>>, String> {
    let plan = plan(sql).await?;
    let batches = context()
        .execute_logical_plan(plan)
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let options = FormatOptions::default()
        .with_null("NULL")
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f"));
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// The values of the only row of a query; panics on errors.
pub(super) async fn row(sql: &str) -> Vec<String> {
    let mut rows = query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(rows.len(), 1, "{sql}");
    rows.remove(0)
}

/// The first column of every row of a query; panics on errors.
pub(super) async fn column(sql: &str) -> Vec<String> {
    query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|mut r| r.remove(0))
        .collect()
}

/// The planning error of a query; panics if it plans.
pub(super) async fn error(sql: &str) -> String {
    match query(sql).await {
        Ok(rows) => panic!("{sql} gave {rows:?}"),
        Err(e) => e,
    }
}
