//! The end of each INSERT: conform the query's columns to the sink's, check
//! the sink accepts the changelog arriving, and place the sink.

use rtdw_connector_core::committer::committable_schema;

use super::*;

impl Planner {
    /// Places the sink of table `name` after `stream`, casting the query's
    /// columns to the sink's.
    pub(super) fn sink(&mut self, name: &str, stream: Stream) -> Result<(), SqlError> {
        let table = self
            .tables
            .get(name)
            .map(|t| t.descriptor().clone())
            .ok_or_else(|| self.unsupported(format!("table '{name}' is not declared")))?;
        let capabilities = self
            .connectors
            .validate_sink(&table)
            .map_err(|e| self.unsupported(e.to_string()))?;
        if let Some(producer) = &stream.updated_by
            && !capabilities.accepts_updates
        {
            return Err(self.unsupported(format!(
                "Table sink '{name}' doesn't support consuming update changes which is produced by node {producer}"
            )));
        }
        let query_schema = stream.schema.clone();
        let query_fields = query_schema.fields();
        let sink_fields = table.schema.fields();
        let mismatch = || {
            let render = |fields: Vec<(String, DataType)>| {
                fields
                    .iter()
                    .map(|(n, t)| format!("{n}: {t}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            self.unsupported(format!(
                "Column types of query result and sink for '{name}' do not match. Query schema: [{}] Sink schema: [{}]",
                render(query_fields.iter().map(|f| (f.name().clone(), f.data_type().clone())).collect()),
                render(sink_fields.iter().map(|f| (f.name().clone(), f.data_type().clone())).collect()),
            ))
        };
        if query_fields.len() != sink_fields.len() {
            return Err(mismatch());
        }
        // Sinks write by position under their own column names: rename,
        // and cast where the types differ.
        let mut stream = stream;
        let conforms = query_fields
            .iter()
            .zip(sink_fields)
            .all(|(q, s)| q.name() == s.name() && q.data_type() == s.data_type());
        if !conforms {
            let mut exprs = Vec::new();
            for (column, target) in stream.schema.columns().into_iter().zip(sink_fields) {
                let source_type = stream
                    .schema
                    .field_from_column(&column)
                    .map_err(|e| self.error(e))?
                    .data_type()
                    .clone();
                let expr = Expr::Column(column);
                if source_type == *target.data_type() {
                    exprs.push(expr);
                } else if can_cast_types(&source_type, target.data_type()) {
                    exprs.push(Expr::Cast(datafusion::logical_expr::Cast::new(
                        Box::new(expr),
                        target.data_type().clone(),
                    )));
                } else {
                    return Err(mismatch());
                }
            }
            let sink_schema =
                DFSchema::try_from(table.schema.as_ref().clone()).map_err(|e| self.error(e))?;
            stream = self.calc(&stream, None, &exprs, Arc::new(sink_schema))?;
        }
        if takes_upserts(&table, &capabilities, &stream) {
            stream = self.drop_update_before(stream, &table.primary_key);
        }
        let upstream = &self.nodes[stream.node];
        let requested =
            parallelism_option(&table, "sink.parallelism").map_err(|m| self.unsupported(m))?;
        let parallelism = requested.unwrap_or(upstream.parallelism);
        if parallelism != upstream.parallelism && upstream.updating {
            return Err(self.unsupported(format!(
                "sink.parallelism {parallelism} of '{name}' differs from its changelog input's parallelism {}; updates of one key must stay in order, so leave sink.parallelism unset",
                upstream.parallelism
            )));
        }
        let partitioning = if parallelism == upstream.parallelism {
            Partitioning::Forward
        } else {
            Partitioning::Rebalance
        };
        let commits_globally = self
            .connectors
            .commits_globally(&table)
            .map_err(|e| self.unsupported(e.to_string()))?;
        if !commits_globally {
            let node = PlanNode {
                schema: upstream.schema.clone(),
                updating: upstream.updating,
                op: OperatorNode::Sink { table },
                parallelism,
                inputs: vec![(stream.node, partitioning)],
            };
            self.push(node);
            return Ok(());
        }
        // Writers at the sink's parallelism, then one committer that makes
        // each checkpoint's files visible in one commit. The rows of one
        // primary key go to one writer, which orders their versions.
        let partitioning = match tables::primary_key_positions(&table) {
            Some(key) => Partitioning::Hash(key),
            None => partitioning,
        };
        let writer = PlanNode {
            schema: committable_schema(),
            updating: false,
            op: OperatorNode::SinkWriter {
                table: table.clone(),
            },
            parallelism,
            inputs: vec![(stream.node, partitioning)],
        };
        let writer = self.push(writer);
        let committer = PlanNode {
            schema: self.nodes[writer].schema.clone(),
            updating: false,
            op: OperatorNode::Committer { table },
            parallelism: 1,
            inputs: vec![(writer, Partitioning::Rebalance)],
        };
        self.push(committer);
        Ok(())
    }

    /// Chains the filter that turns a changelog keyed by `key` into upserts.
    fn drop_update_before(&mut self, stream: Stream, key: &[String]) -> Stream {
        let upstream = &self.nodes[stream.node];
        let node = PlanNode {
            schema: upstream.schema.clone(),
            parallelism: upstream.parallelism,
            updating: true,
            inputs: vec![(stream.node, Partitioning::Forward)],
            op: OperatorNode::DropUpdateBefore {
                schema: upstream.schema.clone(),
                description: format!("DropUpdateBefore(upsertKey=[{}])", key.join(", ")),
            },
        };
        Stream {
            node: self.push(node),
            ..stream
        }
    }
}

/// A sink with a primary key that can take upserts receives them when the
/// query's changes are keyed by exactly that key (its upsert key); any
/// other changelog reaches it in full (retract mode).
fn takes_upserts(
    table: &TableDescriptor,
    capabilities: &rtdw_connector_core::SinkCapabilities,
    stream: &Stream,
) -> bool {
    let Some(key) = &stream.upsert_key else {
        return false;
    };
    if stream.updated_by.is_none() || !capabilities.accepts_upserts || table.primary_key.is_empty()
    {
        return false;
    }
    let mut upsert_key: Vec<&str> = key
        .iter()
        .filter_map(|&k| table.schema.fields().get(k).map(|f| f.name().as_str()))
        .collect();
    let mut primary_key: Vec<&str> = table.primary_key.iter().map(String::as_str).collect();
    upsert_key.sort_unstable();
    primary_key.sort_unstable();
    upsert_key == primary_key
}
