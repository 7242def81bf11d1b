//! The connectors this binary knows, assembled once from the connector
//! crates and handed to the planner and the task manager; and
//! `rtdw connectors list|describe`, which print what each declares.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use rtdw_connector_core::factory::metadata_markdown_table;
use rtdw_connector_core::format::FormatFactory;
use rtdw_connector_core::options::{DeclaredOption, markdown_table};
use rtdw_connector_core::{ConnectorFactory, ConnectorRegistry};

/// Every connector and format of this build. Connector crates for outside
/// systems register their factories here.
pub fn registry() -> ConnectorRegistry {
    let mut registry = ConnectorRegistry::builtin();
    registry.register(Arc::new(rtdw_connector_kafka::KafkaFactory));
    registry.register(Arc::new(rtdw_connector_kafka::UpsertKafkaFactory));
    registry.register(Arc::new(rtdw_connector_mysql_cdc::MySqlCdcFactory));
    registry.register(Arc::new(rtdw_connector_starrocks::StarRocksFactory));
    registry.register(Arc::new(rtdw_connector_jdbc::JdbcFactory));
    registry.register(Arc::new(rtdw_connector_paimon::PaimonFactory));
    registry.register_catalog(Arc::new(rtdw_connector_paimon::PaimonCatalogFactory));
    registry
}

/// `rtdw connectors ...`
#[derive(Subcommand)]
pub enum ConnectorsCommand {
    /// List the connectors with their roles, and the formats.
    List,
    /// Print a connector's or a format's options (key, required, default,
    /// type, description), roles, changelog modes and metadata columns.
    Describe {
        /// A connector name (`filesystem`) or a format name (`json`).
        name: String,
        /// Print the option table as Markdown (as in docs/connectors/).
        #[arg(long)]
        markdown: bool,
    },
}

/// Runs `rtdw connectors ...`.
pub fn connectors(command: ConnectorsCommand) -> anyhow::Result<ExitCode> {
    let registry = registry();
    match command {
        ConnectorsCommand::List => {
            println!("{:<14} {:<22} DESCRIPTION", "CONNECTOR", "ROLES");
            for connector in registry.connectors() {
                println!(
                    "{:<14} {:<22} {}",
                    connector.name(),
                    connector.roles().describe(),
                    connector.description()
                );
            }
            println!();
            println!("{:<14} {:<22} DESCRIPTION", "FORMAT", "CARRIES");
            for format in registry.formats().all() {
                let carries = if format.changelog() {
                    "changelog"
                } else {
                    "inserts"
                };
                println!(
                    "{:<14} {carries:<22} {}",
                    format.name(),
                    format.description()
                );
            }
        }
        ConnectorsCommand::Describe { name, markdown } => {
            let text = if let Some(connector) = registry.connector(&name) {
                describe_connector(connector.as_ref(), markdown)
            } else if let Some(format) = registry.formats().get(&name) {
                describe_format(format.as_ref(), markdown)
            } else {
                let known: Vec<&str> = registry
                    .connectors()
                    .map(|c| c.name())
                    .chain(registry.formats().all().map(|f| f.name()))
                    .collect();
                anyhow::bail!(
                    "no connector or format '{name}'{}; known: {}",
                    rtdw_connector_core::options::nearest(&name, &known)
                        .map(|n| format!(" (did you mean '{n}'?)"))
                        .unwrap_or_default(),
                    known.join(", ")
                );
            };
            print!("{text}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A connector's page: the option table alone with `markdown`, else its
/// roles, changelog modes, formats and metadata columns too.
pub fn describe_connector(connector: &dyn ConnectorFactory, markdown: bool) -> String {
    let table = markdown_table(&ConnectorRegistry::declared_options(connector));
    if markdown {
        return table;
    }
    let mut text = format!(
        "{}: {}\nroles: {}\nchangelog: {}\n",
        connector.name(),
        connector.description(),
        connector.roles().describe(),
        connector.changelog_modes()
    );
    for slot in connector.format_slots() {
        text.push_str(&format!(
            "format: named by '{}'; its options go under '{}<format>.' (rtdw connectors describe <format>)\n",
            slot.option.key, slot.prefix
        ));
    }
    let metadata = connector.metadata_columns();
    if !metadata.is_empty() {
        text.push_str("metadata columns (name TYPE METADATA FROM 'key' [VIRTUAL]):\n");
        text.push_str(&metadata_markdown_table(metadata));
    }
    text.push_str("options:\n");
    text.push_str(&table);
    text
}

/// A format's page: its options under the `<format>.` prefix.
pub fn describe_format(format: &dyn FormatFactory, markdown: bool) -> String {
    let prefix = format!("{}.", format.name());
    let options: Vec<DeclaredOption> = format
        .options()
        .iter()
        .map(|o| DeclaredOption::prefixed(&prefix, o))
        .collect();
    let table = markdown_table(&options);
    if markdown {
        return table;
    }
    format!(
        "{}: {}\ncarries: {}\noptions:\n{table}",
        format.name(),
        format.description(),
        if format.changelog() {
            "inserts, updates and deletes"
        } else {
            "inserts only"
        }
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use super::*;

    const OPTIONS: (&str, &str) = ("<!-- options:begin -->\n", "<!-- options:end -->");
    const METADATA: (&str, &str) = ("<!-- metadata:begin -->\n", "<!-- metadata:end -->");

    fn docs() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/connectors")
    }

    /// The table a page holds between a pair of markers, if it has them.
    fn documented_table(page: &Path, (begin, end): (&str, &str)) -> Option<String> {
        let text = std::fs::read_to_string(page)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", page.display()));
        let start = text.find(begin)? + begin.len();
        let end = text[start..]
            .find(end)
            .unwrap_or_else(|| panic!("{} has no {end:?} marker", page.display()));
        Some(text[start..start + end].to_string())
    }

    /// Every `.md` page in `dir` but the index.
    fn pages(dir: &Path) -> BTreeSet<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .filter(|p| !p.ends_with("README.md"))
            .collect()
    }

    #[test]
    fn every_page_holds_the_option_table_its_connector_declares() {
        let registry = registry();
        let mut documented = BTreeSet::new();
        for connector in registry.connectors() {
            let page = docs().join(format!("{}.md", connector.name()));
            let metadata = connector.metadata_columns();
            assert_eq!(
                documented_table(&page, METADATA),
                (!metadata.is_empty()).then(|| metadata_markdown_table(metadata)),
                "{}: the metadata columns differ from the code",
                page.display()
            );
            assert_eq!(
                documented_table(&page, OPTIONS),
                Some(describe_connector(connector.as_ref(), true)),
                "{} differs from the code: paste `rtdw connectors describe {} --markdown`",
                page.display(),
                connector.name()
            );
            documented.insert(page);
        }
        for format in registry.formats().all() {
            let page = docs().join("formats").join(format!("{}.md", format.name()));
            assert_eq!(
                documented_table(&page, OPTIONS),
                Some(describe_format(format.as_ref(), true)),
                "{} differs from the code: paste `rtdw connectors describe {} --markdown`",
                page.display(),
                format.name()
            );
            documented.insert(page);
        }
        let all: BTreeSet<PathBuf> = pages(&docs())
            .into_iter()
            .chain(pages(&docs().join("formats")))
            .collect();
        let stale: Vec<_> = all.difference(&documented).collect();
        assert!(
            stale.is_empty(),
            "pages of no connector or format: {stale:?}"
        );
    }

    #[test]
    fn a_description_lists_roles_formats_and_options() {
        let registry = registry();
        let filesystem = registry.connector("filesystem").unwrap();
        let text = describe_connector(filesystem.as_ref(), false);
        assert!(text.starts_with("filesystem: "), "{text}");
        assert!(text.contains("roles: source, sink\n"), "{text}");
        assert!(
            text.contains("format: named by 'format'; its options go under '<format>.'"),
            "{text}"
        );
        assert!(
            text.contains("| `path` | yes | (none) | String |"),
            "{text}"
        );
        let csv = registry.formats().get("csv").unwrap();
        let text = describe_format(csv.as_ref(), false);
        assert!(
            text.contains("| `csv.field-delimiter` | no | `,` | Character |"),
            "{text}"
        );
    }
}
