//! Declared tables: registering them with DataFusion under the columns
//! queries see (physical and computed), and reading them: one source per
//! table, followed by the Calc computing its computed columns and its
//! watermark assigner, shared by every query of the job that reads it.

use datafusion::logical_expr::TableScan;

use super::*;
use crate::script::{Column, WatermarkDeclaration};

/// A declared table with its computed columns planned.
pub(super) struct PlannedTable {
    /// As declared.
    pub(super) definition: TableDefinition,
    /// Each declared column's expression over the physical columns (a
    /// plain column reference for a physical one), in declaration order.
    columns: Vec<Expr>,
    /// Every column queries see, in declaration order.
    schema: SchemaRef,
}

impl PlannedTable {
    /// The connector's view of the table.
    pub(super) fn descriptor(&self) -> &TableDescriptor {
        &self.definition.descriptor
    }
}

/// Positions of a table's primary key columns among its physical columns;
/// `None` without a primary key.
pub(super) fn primary_key_positions(table: &TableDescriptor) -> Option<Vec<usize>> {
    if table.primary_key.is_empty() {
        return None;
    }
    table
        .primary_key
        .iter()
        .map(|name| table.schema.index_of(name).ok())
        .collect()
}

impl Planner {
    /// Declares a script's own table (in the built-in catalog).
    pub(super) fn create_table(
        &mut self,
        definition: TableDefinition,
        at: Location,
    ) -> Result<(), SqlError> {
        let name = definition.descriptor.name.clone();
        let registered = TableReference::full(
            catalogs::DEFAULT_CATALOG,
            catalogs::DEFAULT_DATABASE,
            name.as_str(),
        );
        self.declare_table(definition, at, registered, name)
    }

    /// Declares a table under `key`, and to DataFusion as `registered`:
    /// its computed columns are planned over the physical ones, and
    /// DataFusion learns the full column list.
    pub(super) fn declare_table(
        &mut self,
        definition: TableDefinition,
        at: Location,
        registered: TableReference,
        key: String,
    ) -> Result<(), SqlError> {
        let table = &definition.descriptor;
        if self.tables.contains_key(&key) {
            return Err(SqlError::at(
                at,
                format!("table '{}' already exists", table.name),
            ));
        }
        table
            .require_connector()
            .map_err(|e| SqlError::at(at, e.to_string()))?;
        // What the source emits: physical columns, then metadata columns.
        let physical =
            DFSchema::try_from_qualified_schema(table.name.as_str(), &table.source_schema())
                .map_err(|e| SqlError::at(at, e.to_string()))?;
        let mut columns = Vec::new();
        let mut fields = Vec::new();
        for column in &definition.columns {
            let (expr, data_type) = match column {
                Column::Physical(name) | Column::Metadata(name) => {
                    let field = physical
                        .field_with_unqualified_name(name)
                        .map_err(|e| SqlError::at(at, e.to_string()))?;
                    (
                        Expr::Column(datafusion::common::Column::new(
                            Some(table.name.as_str()),
                            name,
                        )),
                        field.data_type().clone(),
                    )
                }
                Column::Computed {
                    name,
                    expr,
                    location,
                } => {
                    let in_column = |e: DataFusionError| {
                        let mut error = self.error(e);
                        error.location = Some(*location);
                        error.message = format!("computed column '{name}': {}", error.message);
                        error
                    };
                    let planned = self
                        .state
                        .create_logical_expr(&expr.to_string(), &physical)
                        .map_err(in_column)?;
                    let data_type = planned.get_type(&physical).map_err(in_column)?;
                    (planned, data_type)
                }
            };
            fields.push(Field::new(column.name(), data_type, true));
            columns.push(expr);
        }
        let schema = Arc::new(Schema::new(fields));
        // The table as queries read it, and as each lookup join of the
        // script queries it (its physical columns, under the name the
        // parser gave that FOR SYSTEM_TIME AS OF).
        let lookups = self
            .lookups
            .iter()
            .filter(|clause| clause.table == table.name)
            .map(|clause| {
                let scanned = TableReference::full(
                    catalogs::DEFAULT_CATALOG,
                    catalogs::DEFAULT_DATABASE,
                    clause.scanned.as_str(),
                );
                (scanned, table.schema.clone())
            });
        let registered: Vec<(TableReference, SchemaRef)> =
            std::iter::once((registered, schema.clone()))
                .chain(lookups)
                .collect();
        for (reference, columns) in registered {
            let name = reference.table().to_string();
            self.state
                .schema_for_ref(reference)
                .and_then(|catalog| {
                    catalog.register_table(
                        name,
                        Arc::new(datafusion::catalog::empty::EmptyTable::new(columns)),
                    )
                })
                .map_err(|e| SqlError::at(at, e.to_string()))?;
        }
        self.tables.insert(
            key,
            PlannedTable {
                definition,
                columns,
                schema,
            },
        );
        Ok(())
    }

    /// A scan of a table: its shared source stream, then a Calc for the
    /// columns and filters DataFusion pushed into the scan.
    pub(super) fn scan(&mut self, scan: &TableScan) -> Result<Stream, SqlError> {
        let key = self.table_key(&scan.table_name);
        let name = key.as_str();
        if let Some(clause) = self.lookup_clause(scan) {
            return Err(SqlError::at(
                clause.location,
                format!(
                    "'{}' FOR SYSTEM_TIME AS OF is only supported as the right side of a JOIN (a lookup join: stream JOIN dim FOR SYSTEM_TIME AS OF stream.proc_time ON ...)",
                    clause.table
                ),
            ));
        }
        let stream = match self.scans.get(name) {
            Some(stream) => stream.clone(),
            None => {
                let stream = self.source(name)?;
                self.scans.insert(name.to_string(), stream.clone());
                stream
            }
        };
        let filter = datafusion::logical_expr::utils::conjunction(scan.filters.clone());
        if scan.projection.is_none() && filter.is_none() {
            return Ok(stream);
        }
        self.select(&stream, filter.as_ref(), scan.projected_schema.clone())
    }

    /// The source of a table with its computed columns: every column the
    /// table declares, qualified by the table's name.
    fn source(&mut self, name: &str) -> Result<Stream, SqlError> {
        let table = self
            .tables
            .get(name)
            .ok_or_else(|| self.unsupported(format!("table '{name}' is not declared")))?;
        let descriptor = table.descriptor().clone();
        let columns = table.columns.clone();
        let schema = table.schema.clone();
        let watermark = table.definition.watermark.clone();
        // Computed columns are computed, and metadata columns put in their
        // declared places, by a Calc after the source.
        let computed = table
            .definition
            .columns
            .iter()
            .any(|c| matches!(c, Column::Computed { .. } | Column::Metadata(_)));
        let capabilities = self
            .connectors
            .validate_source(&descriptor)
            .map_err(|e| self.unsupported(e.to_string()))?;
        let parallelism = parallelism_option(&descriptor, "source.parallelism")
            .map_err(|m| self.unsupported(m))?
            .unwrap_or(self.parallelism);
        let node = self.push(PlanNode {
            schema: descriptor.source_schema(),
            op: OperatorNode::Source {
                table: descriptor.clone(),
            },
            parallelism,
            inputs: Vec::new(),
            updating: capabilities.changelog,
        });
        let qualified = |schema: &Schema| {
            DFSchema::try_from_qualified_schema(name, schema)
                .map(Arc::new)
                .map_err(|e| self.error(e))
        };
        let stream = Stream {
            node,
            schema: qualified(&descriptor.source_schema())?,
            updated_by: capabilities
                .changelog
                .then(|| format!("Source: {name} (a changelog)")),
            upsert_key: primary_key_positions(&descriptor).filter(|_| capabilities.changelog),
        };
        let stream = if computed {
            let output = qualified(&schema)?;
            self.calc(&stream, None, &columns, output)?
        } else {
            stream
        };
        let stream = match watermark {
            Some(declaration) => self.watermark_assigner(stream, &declaration)?,
            None => stream,
        };
        if capabilities.upserts {
            return self.changelog_normalize(stream, &descriptor);
        }
        Ok(stream)
    }

    /// Follows the upserts of `table`'s source with a hash exchange on its
    /// primary key and the ChangelogNormalize that turns them into a full
    /// changelog keyed by it, as Flink plans an `upsert-kafka` scan.
    fn changelog_normalize(
        &mut self,
        stream: Stream,
        table: &TableDescriptor,
    ) -> Result<Stream, SqlError> {
        let key_columns = table
            .primary_key
            .iter()
            .map(|name| {
                stream
                    .schema
                    .fields()
                    .iter()
                    .position(|f| f.name() == name)
                    .ok_or_else(|| {
                        self.unsupported(format!(
                            "table '{}' reads upserts but its primary key column '{name}' is not among its columns",
                            table.name
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if key_columns.is_empty() {
            return Err(self.unsupported(format!(
                "table '{}' reads upserts: it needs a PRIMARY KEY",
                table.name
            )));
        }
        let description = format!("ChangelogNormalize(key=[{}])", table.primary_key.join(", "));
        let schema = self.nodes[stream.node].schema.clone();
        let node = self.push(PlanNode {
            parallelism: self.parallelism,
            updating: true,
            inputs: vec![(stream.node, Partitioning::Hash(key_columns.clone()))],
            schema: schema.clone(),
            op: OperatorNode::ChangelogNormalize {
                schema,
                key_columns: key_columns.clone(),
                state_ttl: self.state_ttl(),
                description: description.clone(),
            },
        });
        Ok(Stream {
            node,
            schema: stream.schema,
            updated_by: Some(description),
            upsert_key: Some(key_columns),
        })
    }

    /// Places the watermark assigner of a `WATERMARK FOR` declaration: the
    /// bounded out-of-orderness strategy Flink recommends,
    /// `column - INTERVAL 'n' unit` (or `column` for in-order data).
    fn watermark_assigner(
        &mut self,
        stream: Stream,
        declaration: &WatermarkDeclaration,
    ) -> Result<Stream, SqlError> {
        let at = |message: String| SqlError::at(declaration.location, message);
        let time_column = stream
            .schema
            .fields()
            .iter()
            .position(|f| f.name() == &declaration.column)
            .ok_or_else(|| at(format!("unknown column '{}'", declaration.column)))?;
        let time_type = stream.schema.field(time_column).data_type();
        if !matches!(time_type, DataType::Timestamp(_, _)) {
            return Err(at(format!(
                "the WATERMARK column '{}' must be a TIMESTAMP(3) or TIMESTAMP_LTZ(3), not {time_type}",
                declaration.column
            )));
        }
        let is_column =
            |e: &ast::Expr| matches!(e, ast::Expr::Identifier(i) if i.value == declaration.column);
        let delay_ms = match declaration.expr.as_ref() {
            e if is_column(e) => 0,
            ast::Expr::BinaryOp {
                left,
                op: ast::BinaryOperator::Minus,
                right,
            } if is_column(left) => window::interval_millis(right).map_err(&at)?,
            other => {
                return Err(at(format!(
                    "unsupported WATERMARK expression {other}; expected `{0} - INTERVAL 'n' SECOND` (bounded out-of-orderness) or `{0}`",
                    declaration.column
                )));
            }
        };
        let upstream = &self.nodes[stream.node];
        let node = PlanNode {
            parallelism: upstream.parallelism,
            updating: upstream.updating,
            inputs: vec![(stream.node, Partitioning::Forward)],
            schema: upstream.schema.clone(),
            op: OperatorNode::WatermarkAssigner {
                time_column,
                delay_ms,
                idle_timeout: self
                    .duration_option("table.exec.source.idle-timeout")
                    .filter(|timeout| !timeout.is_zero()),
                schema: upstream.schema.clone(),
                description: format!(
                    "WatermarkAssigner(rowtime=[{}], watermark=[{}])",
                    declaration.column, declaration.expr
                ),
            },
        };
        Ok(Stream {
            node: self.push(node),
            ..stream
        })
    }
}
