//! Stream Load labels, as the StarRocks Flink connector builds them.
//!
//! StarRocks keeps every label it has seen (a few days by default): a
//! load under a label already used is refused, which makes a retried load
//! harmless. Exactly-once transactions are numbered per subtask and named
//! `{prefix}-{table}-{subtask}-{n}`, so that after a restore the sink can
//! work out every label a lost subtask may have left open: `n` counts up
//! from the number the checkpoint recorded (see [`crate::exactly_once`]).

/// Whether a label prefix is made of the characters StarRocks allows in a
/// label.
pub(crate) fn valid_prefix(prefix: &str) -> bool {
    prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The prefix of a job whose table sets no `sink.label-prefix`: the job id,
/// without the characters a label cannot hold.
pub(crate) fn default_prefix(job_id: &str) -> String {
    let id: String = job_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    format!("rtdw-{id}")
}

/// The labels of one sink subtask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Labels {
    prefix: String,
    table: String,
    subtask: u32,
}

impl Labels {
    /// The labels subtask `subtask` uses for `table` under `prefix`.
    pub(crate) fn new(prefix: &str, table: &str, subtask: u32) -> Self {
        Labels {
            prefix: prefix.to_string(),
            table: table.to_string(),
            subtask,
        }
    }

    /// The label of the subtask's `number`-th transaction.
    pub(crate) fn transaction(&self, number: u64) -> String {
        format!("{}-{}-{}-{number}", self.prefix, self.table, self.subtask)
    }

    /// A fresh label for one at-least-once load: the prefix and a random
    /// UUID, as the Flink connector makes them.
    pub(crate) fn batch(&self) -> String {
        format!("{}-{}", self.prefix, uuid::Uuid::new_v4())
    }

    /// The prefix.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The subtask.
    pub(crate) fn subtask(&self) -> u32 {
        self.subtask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_labels_name_prefix_table_subtask_and_number() {
        let labels = Labels::new("orders-sink", "region_totals", 1);
        assert_eq!(labels.transaction(42), "orders-sink-region_totals-1-42");
        assert_ne!(labels.transaction(42), labels.transaction(43));
        assert_ne!(
            labels.transaction(1),
            Labels::new("orders-sink", "region_totals", 0).transaction(1)
        );
    }

    #[test]
    fn batch_labels_are_unique_and_keep_the_prefix() {
        let labels = Labels::new("p", "t", 0);
        let (a, b) = (labels.batch(), labels.batch());
        assert_ne!(a, b);
        assert!(a.starts_with("p-") && valid_prefix(&a), "{a}");
    }

    #[test]
    fn prefixes_hold_only_label_characters() {
        assert!(valid_prefix("job_1-sink"));
        assert!(!valid_prefix("job 1"));
        assert!(!valid_prefix("job.1"));
        assert_eq!(default_prefix("a1b2-c3:x"), "rtdw-a1b2-c3x");
        assert!(valid_prefix(&default_prefix("é/ü")));
    }
}
