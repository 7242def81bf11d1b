//! Opening a Paimon table at a path, creating it from a declaration when
//! asked, and checking a declaration against the table it names.

use std::collections::HashMap;

use bytes::Bytes;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use paimon::Table;
use paimon::catalog::Identifier;
use paimon::io::FileIO;
use paimon::spec::TableSchema;
use paimon::table::SchemaManager;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::{ErrorClass, StreamError};

use crate::bridge;
use crate::options::{PaimonSettings, creation_options, is_read_option};

/// Options fixed when a table is created: a declaration that gives another
/// value names a different table.
const STRUCTURAL_OPTIONS: &[&str] = &[
    "bucket",
    "bucket-key",
    "merge-engine",
    "sequence.field",
    "changelog-producer",
];

/// The error for a failure of Paimon while doing `context` for `table`.
pub(crate) fn paimon_error(
    table: &str,
    context: impl Into<String>,
    error: paimon::Error,
) -> ConnectorError {
    let class = match &error {
        paimon::Error::IoUnexpected { .. } | paimon::Error::IoUnsupported { .. } => {
            ErrorClass::Transient
        }
        _ => ErrorClass::User,
    };
    ConnectorError::external(table, context, class, PaimonFailure::from(&error))
}

/// A Paimon error as one line: the storage layer's context (service,
/// path, cause) kept, its multi-line layout and backtrace left out, so the
/// error fits a log line and an RPC status.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct PaimonFailure(String);

impl From<&paimon::Error> for PaimonFailure {
    fn from(error: &paimon::Error) -> Self {
        let text = error.to_string();
        let without_backtrace = text.split("Backtrace:").next().unwrap_or_default();
        let lines: Vec<&str> = without_backtrace
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect();
        PaimonFailure(lines.join(" "))
    }
}

/// The database and table names a path stands for: `<warehouse>/<db>.db/<t>`
/// gives `db` and `t`; any other path the database `default`.
fn identifier_of(path: &str) -> Identifier {
    let mut segments = path.rsplit('/');
    let name = segments.next().unwrap_or(path);
    match segments
        .next()
        .and_then(|parent| parent.strip_suffix(".db"))
    {
        Some(database) if !database.is_empty() => Identifier::new(database, name),
        _ => Identifier::new("default", name),
    }
}

/// The file IO for `settings`' path and storage options.
fn file_io(settings: &PaimonSettings, table: &str) -> Result<FileIO, ConnectorError> {
    FileIO::from_path(&settings.path)
        .and_then(|builder| builder.with_props(settings.storage.iter()).build())
        .map_err(|e| paimon_error(table, format!("cannot reach '{}'", settings.path), e))
}

/// The table at `settings.path`, `None` when no schema exists there.
pub(crate) async fn open(
    settings: &PaimonSettings,
    table: &str,
) -> Result<Option<Table>, ConnectorError> {
    let io = file_io(settings, table)?;
    let schemas = SchemaManager::new(io.clone(), settings.path.clone());
    let latest = schemas.latest().await.map_err(|e| {
        paimon_error(
            table,
            format!(
                "cannot read the schema of the Paimon table at '{}'",
                settings.path
            ),
            e,
        )
    })?;
    Ok(latest.map(|schema| {
        Table::new(
            io,
            identifier_of(&settings.path),
            settings.path.clone(),
            (*schema).clone(),
            None,
        )
    }))
}

/// The table at `settings.path`, created from `declared` when it is missing
/// and `auto-create` is on; an error naming the path otherwise.
pub(crate) async fn open_or_create(
    settings: &PaimonSettings,
    declared: &TableDescriptor,
) -> Result<Table, ConnectorError> {
    if let Some(table) = open(settings, &declared.name).await? {
        return Ok(table);
    }
    if !settings.auto_create {
        return Err(ConnectorError::Unsupported {
            table: declared.name.clone(),
            reason: format!(
                "no Paimon table exists at '{}'; create it, or set 'auto-create' = 'true'",
                settings.path
            ),
        });
    }
    create(settings, declared).await?;
    open(settings, &declared.name)
        .await?
        .ok_or_else(|| ConnectorError::Unsupported {
            table: declared.name.clone(),
            reason: format!(
                "the Paimon table created at '{}' cannot be read back",
                settings.path
            ),
        })
}

/// Creates the table `declared` describes at `settings.path`: its first
/// schema file, as Paimon's own `auto-create` does, with no catalog
/// involved (object stores have no directories a catalog could check).
pub(crate) async fn create(
    settings: &PaimonSettings,
    declared: &TableDescriptor,
) -> Result<(), ConnectorError> {
    let name = &declared.name;
    let schema = TableSchema::new(0, &paimon_schema(declared, settings)?);
    let content = serde_json::to_vec(&schema).map_err(|e| ConnectorError::Unsupported {
        table: name.clone(),
        reason: format!("the Paimon schema cannot be encoded: {e}"),
    })?;
    let io = file_io(settings, name)?;
    let path = SchemaManager::new(io.clone(), settings.path.clone()).schema_path(0);
    let written = match io.new_output(&path) {
        Ok(output) => output.write(Bytes::from(content)).await,
        Err(e) => Err(e),
    };
    written.map_err(|e| {
        paimon_error(
            name,
            format!("cannot create the Paimon table at '{}'", settings.path),
            e,
        )
    })?;
    tracing::info!(table = %name, path = %settings.path, "created the Paimon table");
    Ok(())
}

/// The Paimon schema of a declared table: its columns, keys and options.
fn paimon_schema(
    declared: &TableDescriptor,
    settings: &PaimonSettings,
) -> Result<paimon::spec::Schema, ConnectorError> {
    let name = &declared.name;
    let fields: Vec<Field> = declared
        .schema
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), storage_type(f.data_type()), true))
        .collect();
    let arrow58 = bridge::schema_to_paimon(&Schema::new(fields)).map_err(|e| {
        ConnectorError::Unsupported {
            table: name.clone(),
            reason: e.to_string(),
        }
    })?;
    let columns = paimon::arrow::arrow_fields_to_paimon(
        &arrow58
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect::<Vec<_>>(),
    )
    .map_err(|e| ConnectorError::Unsupported {
        table: name.clone(),
        reason: format!("a column has no Paimon type: {e}"),
    })?;
    let mut builder = paimon::spec::Schema::builder();
    for column in columns {
        builder = builder.column(column.name().to_string(), column.data_type().clone());
    }
    builder
        .partition_keys(declared.partition_keys.iter().cloned())
        .primary_key(declared.primary_key.iter().cloned())
        .options(creation_options(settings))
        .build()
        .map_err(|e| ConnectorError::Unsupported {
            table: name.clone(),
            reason: format!("not a valid Paimon table: {e}"),
        })
}

/// The Arrow type a column is stored as: views and large variants as their
/// plain forms, which Paimon's types map to.
pub(crate) fn storage_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        other => other.clone(),
    }
}

/// The table's columns in rtdw's Arrow, as Paimon's readers produce and its
/// writers take them.
pub(crate) fn arrow_schema(table: &Table, name: &str) -> Result<SchemaRef, ConnectorError> {
    let unsupported = |reason: String| ConnectorError::Unsupported {
        table: name.to_string(),
        reason,
    };
    let target =
        paimon::arrow::build_target_arrow_schema(table.schema().fields()).map_err(|e| {
            unsupported(format!(
                "a column of the Paimon table has no Arrow type: {e}"
            ))
        })?;
    bridge::schema_from_paimon(&target).map_err(|e| unsupported(e.to_string()))
}

/// The declared columns of a batch read from the table, taken by name and
/// cast to the declared types.
pub(crate) fn declared_columns(
    declared: &TableDescriptor,
    batch: &RecordBatch,
) -> Result<Vec<ArrayRef>, StreamError> {
    declared
        .schema
        .fields()
        .iter()
        .map(|field| {
            let column = batch.column_by_name(field.name()).ok_or_else(|| {
                StreamError::Failed(format!(
                    "table '{}': the Paimon table has no column '{}'",
                    declared.name,
                    field.name()
                ))
            })?;
            Ok(arrow::compute::cast(column, field.data_type())?)
        })
        .collect()
}

/// Checks a declaration against the table: the same columns in the same
/// order with types that convert, the same primary key, and no structural
/// option that differs from the table's.
pub(crate) fn check_declaration(
    declared: &TableDescriptor,
    table: &Table,
    settings: &PaimonSettings,
) -> Result<(), ConnectorError> {
    let mismatch = |reason: String| ConnectorError::Unsupported {
        table: declared.name.clone(),
        reason: format!(
            "the declaration does not match the Paimon table at '{}': {reason}",
            settings.path
        ),
    };
    let actual = arrow_schema(table, &declared.name)?;
    let names = |fields: &arrow::datatypes::Fields| {
        fields
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if actual.fields().len() != declared.schema.fields().len()
        || actual
            .fields()
            .iter()
            .zip(declared.schema.fields())
            .any(|(a, d)| a.name() != d.name())
    {
        return Err(mismatch(format!(
            "it has the columns ({}), the declaration ({})",
            names(actual.fields()),
            names(declared.schema.fields())
        )));
    }
    for (a, d) in actual.fields().iter().zip(declared.schema.fields()) {
        let (stored, wanted) = (a.data_type(), &storage_type(d.data_type()));
        if stored != wanted && !arrow::compute::can_cast_types(stored, wanted) {
            return Err(mismatch(format!(
                "column '{}' is {stored} in the table and declared {wanted}",
                a.name()
            )));
        }
    }
    let keys = table.schema().primary_keys();
    if keys != declared.primary_key.as_slice() {
        return Err(mismatch(format!(
            "its primary key is ({}), the declaration's ({})",
            keys.join(", "),
            declared.primary_key.join(", ")
        )));
    }
    let stored = table.schema().options();
    for key in STRUCTURAL_OPTIONS {
        if let (Some(given), Some(existing)) = (settings.table_options.get(*key), stored.get(*key))
            && given.trim() != existing.trim()
        {
            return Err(mismatch(format!(
                "option '{key}' is '{existing}' in the table and '{given}' in the declaration"
            )));
        }
    }
    Ok(())
}

/// The table a job's subtask reads or writes: opened (created when the
/// declaration asks), with the declared table options applied as Paimon's
/// dynamic options, minus what a read decides itself and what only the
/// table's creation sets.
pub(crate) async fn open_for_job(
    settings: &PaimonSettings,
    declared: &TableDescriptor,
) -> Result<Table, ConnectorError> {
    let table = open_or_create(settings, declared).await?;
    let dynamic: HashMap<String, String> = settings
        .table_options
        .iter()
        .filter(|(key, _)| !is_read_option(key) && !STRUCTURAL_OPTIONS.contains(&key.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(if dynamic.is_empty() {
        table
    } else {
        table.copy_with_options(dynamic)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_layout_paths_name_their_database_and_table() {
        let id = identifier_of("s3://lake/wh/ods.db/orders");
        assert_eq!((id.database(), id.object()), ("ods", "orders"));
        let id = identifier_of("file:///data/orders");
        assert_eq!((id.database(), id.object()), ("default", "orders"));
    }
}

#[cfg(test)]
mod creation_tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[tokio::test]
    async fn a_path_that_cannot_be_written_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "not a directory").unwrap();
        let declared = TableDescriptor {
            name: "lake".into(),
            schema: Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)])),
            options: BTreeMap::from([
                ("connector".into(), "paimon".into()),
                (
                    "path".into(),
                    format!("file://{}/db.db/t", blocker.display()),
                ),
                ("auto-create".into(), "true".into()),
            ]),
            primary_key: vec![],
            partition_keys: vec![],
            metadata: vec![],
        };
        let settings = PaimonSettings::from_table(&declared).unwrap();
        let error = open_or_create(&settings, &declared)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("cannot create the Paimon table at"),
            "{error}"
        );
        assert!(
            error.contains("Not a directory") && !error.contains('\n'),
            "{error}"
        );
    }
}
