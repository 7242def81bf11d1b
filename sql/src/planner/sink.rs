//! The end of each INSERT: conform the query's columns to the sink's, check
//! the sink accepts the changelog arriving, and place the sink.

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
        let capabilities = validate_sink(&table).map_err(|e| self.unsupported(e.to_string()))?;
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
        let node = PlanNode {
            schema: upstream.schema.clone(),
            updating: upstream.updating,
            op: OperatorNode::Sink { table },
            parallelism,
            inputs: vec![(stream.node, partitioning)],
        };
        self.push(node);
        Ok(())
    }
}
