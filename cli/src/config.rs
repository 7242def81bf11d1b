//! Application configuration: `application.yml`, then
//! `application-{profile}.yml`, then `RTDW_SECTION__KEY` environment
//! variables, then command-line flags, over built-in defaults. Every value
//! remembers where it came from, for errors and `rtdw config show`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Yaml};
use figment::value::{Dict, Map, Value};
use figment::{Error, Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Environment variables that choose files rather than values.
pub const PROFILE_ENV: &str = "RTDW_PROFILE";
/// Environment variable naming the configuration directory.
pub const CONFIG_DIR_ENV: &str = "RTDW_CONFIG_DIR";

/// The whole configuration of an rtdw process.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AppConfig {
    /// `rtdw coordinator` (and the coordinator of `rtdw local`).
    pub coordinator: CoordinatorSection,
    /// `rtdw taskmanager` (and the task managers of `rtdw local`).
    pub taskmanager: TaskManagerSection,
    /// Logs.
    pub logging: LoggingSection,
    /// Traces.
    pub tracing: TracingSection,
}

/// Trace export settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TracingSection {
    /// OTLP/gRPC endpoint, e.g. `http://127.0.0.1:4317`; unset: the
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` variable, else no traces.
    pub otlp_endpoint: Option<String>,
    /// Headers sent with every export, e.g. `authorization`; secrets.
    pub otlp_headers: BTreeMap<String, Secret>,
}

/// The coordinator's settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CoordinatorSection {
    /// gRPC address for clients and task managers.
    pub grpc_addr: SocketAddr,
    /// HTTP address for /metrics, /healthz, /readyz.
    pub http_addr: SocketAddr,
    /// How often task managers heartbeat.
    pub heartbeat_interval_ms: u64,
    /// Silence after which a task manager is lost.
    pub heartbeat_timeout_ms: u64,
    /// Local data directory: the embedded metadata store and the default
    /// checkpoint directory live here.
    pub data_dir: PathBuf,
    /// Metadata store, `etcd://host:port[,host:port]`; unset for the
    /// embedded store in `data_dir`.
    pub metastore: Option<String>,
    /// Cluster-wide defaults of job options with Flink's keys (for example
    /// `execution.checkpointing.interval`), below each script's `SET`s.
    pub job_defaults: BTreeMap<String, String>,
}

/// A task manager's settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TaskManagerSection {
    /// The coordinator's gRPC URL.
    pub coordinator: String,
    /// Slots offered.
    pub slots: u32,
    /// gRPC and Flight address; port 0 picks a free one.
    pub bind: SocketAddr,
    /// HTTP address; port 0 picks a free one.
    pub http_addr: SocketAddr,
}

/// Log settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingSection {
    /// A tracing filter: `info`, `debug`, `rtdw_taskmanager=debug,info`.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, span fields included.
    Json,
}

impl Default for CoordinatorSection {
    fn default() -> Self {
        CoordinatorSection {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 6123)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            heartbeat_interval_ms: 1000,
            heartbeat_timeout_ms: 10000,
            data_dir: PathBuf::from("rtdw-data"),
            metastore: None,
            job_defaults: BTreeMap::new(),
        }
    }
}

impl Default for TaskManagerSection {
    fn default() -> Self {
        TaskManagerSection {
            coordinator: "http://127.0.0.1:6123".into(),
            slots: 4,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

impl Default for LoggingSection {
    fn default() -> Self {
        LoggingSection {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// Where the configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// Directory of `application*.yml`.
    pub dir: PathBuf,
    /// `dev`, `test`, `prod`, ... (none: only `application.yml`).
    pub profile: Option<String>,
    /// Values of command-line flags, by dotted key.
    pub flags: BTreeMap<String, Value>,
}

/// A provider with a name of our choosing, so sources read well.
struct Named<P> {
    name: &'static str,
    inner: P,
}

impl<P: Provider> Provider for Named<P> {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        self.inner.data()
    }
}

/// The layered configuration, not yet checked.
pub fn figment(source: &ConfigSource) -> Figment {
    let mut figment = Figment::new()
        .merge(Named {
            name: "built-in default",
            inner: Serialized::defaults(AppConfig::default()),
        })
        .merge(Yaml::file(source.dir.join("application.yml")));
    if let Some(profile) = &source.profile {
        figment = figment.merge(Yaml::file(
            source.dir.join(format!("application-{profile}.yml")),
        ));
    }
    // Only RTDW_SECTION__KEY variables: RTDW_PROFILE, RTDW_COORDINATOR (the
    // client's URL) and the like are not configuration keys.
    let env = Env::prefixed("RTDW_")
        .split("__")
        .filter(|key| key.as_str().contains('.'));
    figment = figment.merge(env);
    for (key, value) in &source.flags {
        figment = figment.merge(Named {
            name: "command-line flag",
            inner: Serialized::default(key, value.clone()),
        });
    }
    figment
}

/// A configuration error, naming the key and where its value came from.
#[derive(Debug)]
pub struct ConfigError(Vec<String>);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid configuration:")?;
        for problem in &self.0 {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Where the value of `key` came from: a file path, an environment variable,
/// a flag or the default.
pub fn origin(figment: &Figment, key: &str) -> String {
    match figment.find_metadata(key) {
        Some(metadata) => match &metadata.source {
            Some(source) => source.to_string(),
            None if metadata.name.contains("environment") => env_var(key),
            None => metadata.name.to_string(),
        },
        None => "unknown".into(),
    }
}

/// The environment variable that sets `key`: `taskmanager.slots` is
/// `RTDW_TASKMANAGER__SLOTS`.
pub fn env_var(key: &str) -> String {
    format!("RTDW_{}", key.to_ascii_uppercase().replace('.', "__"))
}

/// Loads and checks the configuration.
pub fn load(source: &ConfigSource) -> Result<AppConfig, ConfigError> {
    if let Some(profile) = &source.profile {
        let file = source.dir.join(format!("application-{profile}.yml"));
        if !file.is_file() {
            return Err(ConfigError(vec![format!(
                "profile '{profile}' has no file {}",
                file.display()
            )]));
        }
    }
    let figment = figment(source);
    let config: AppConfig = figment.extract().map_err(|error| {
        ConfigError(
            error
                .into_iter()
                .map(|e| {
                    let key = e.path.join(".");
                    let origin = e
                        .metadata
                        .as_ref()
                        .map(|m| {
                            m.source
                                .as_ref()
                                .map(|s| s.to_string())
                                .unwrap_or_else(|| m.name.to_string())
                        })
                        .unwrap_or_else(|| "configuration".into());
                    if key.is_empty() {
                        format!("{origin}: {}", e.kind)
                    } else {
                        format!("{key} ({origin}): {}", e.kind)
                    }
                })
                .collect(),
        )
    })?;
    check(&config, &figment)?;
    Ok(config)
}

/// Rules across keys, reported with the keys' origins.
fn check(config: &AppConfig, figment: &Figment) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    let mut problem = |key: &str, message: String| {
        problems.push(format!("{key} ({}): {message}", origin(figment, key)))
    };
    let c = &config.coordinator;
    if c.heartbeat_interval_ms == 0 {
        problem(
            "coordinator.heartbeat_interval_ms",
            "must be positive".into(),
        );
    }
    if c.heartbeat_timeout_ms <= c.heartbeat_interval_ms {
        problem(
            "coordinator.heartbeat_timeout_ms",
            format!(
                "must exceed coordinator.heartbeat_interval_ms ({})",
                c.heartbeat_interval_ms
            ),
        );
    }
    if let Some(url) = &c.metastore
        && !url.starts_with("etcd://")
    {
        problem(
            "coordinator.metastore",
            format!("'{url}' is not an etcd://host:port URL"),
        );
    }
    if config.taskmanager.slots == 0 {
        problem("taskmanager.slots", "must be at least 1".into());
    }
    let url = &config.taskmanager.coordinator;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        problem(
            "taskmanager.coordinator",
            format!("'{url}' is not an http:// or https:// URL"),
        );
    }
    for (header, value) in &config.tracing.otlp_headers {
        let key = format!("tracing.otlp_headers.{header}");
        let from_config_file = matches!(
            figment.find_metadata(&key).and_then(|m| m.source.as_ref()),
            Some(figment::Source::File(_))
        );
        if from_config_file && !value.was_read_from_file() {
            problem(
                &key,
                format!(
                    "a secret cannot be written in a configuration file; set {} or write {}/path/to/secret",
                    env_var(&key),
                    crate::secret::FILE_PREFIX
                ),
            );
        }
    }
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&config.logging.level) {
        problem(
            "logging.level",
            format!("'{}' is not a log filter: {e}", config.logging.level),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError(problems))
    }
}

/// Every leaf key with its effective value and origin, for `config show`.
pub fn describe(source: &ConfigSource) -> Result<Vec<(String, String, String)>, ConfigError> {
    let config = load(source)?;
    let figment = figment(source);
    let value =
        figment::value::Value::serialize(&config).map_err(|e| ConfigError(vec![e.to_string()]))?;
    let mut rows = Vec::new();
    flatten("", &value, &mut |key, value| {
        rows.push((key.to_string(), value, origin(&figment, key)));
    });
    Ok(rows)
}

fn flatten(prefix: &str, value: &Value, out: &mut dyn FnMut(&str, String)) {
    match value {
        Value::Dict(_, dict) => {
            for (k, v) in dict {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => out(prefix, render(other)),
    }
}

fn render(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "?".into())
}

/// The directory given, or `config` under the working directory.
pub fn config_dir(given: Option<&Path>) -> PathBuf {
    given
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("config"))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Tests that set environment variables run one at a time.
    static ENV: Mutex<()> = Mutex::new(());

    fn source(dir: &Path, profile: Option<&str>) -> ConfigSource {
        ConfigSource {
            dir: dir.to_path_buf(),
            profile: profile.map(String::from),
            flags: BTreeMap::new(),
        }
    }

    #[test]
    fn layers_override_in_order_and_remember_their_origin() {
        let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("application.yml"),
            "taskmanager:\n  slots: 6\ncoordinator:\n  grpc_addr: 0.0.0.0:7000\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("application-prod.yml"),
            "taskmanager:\n  slots: 7\nlogging:\n  format: json\n",
        )
        .unwrap();
        // SAFETY: the ENV lock keeps other tests of this module from reading the environment meanwhile.
        unsafe { std::env::set_var("RTDW_COORDINATOR__HEARTBEAT_TIMEOUT_MS", "20000") };
        let mut source = source(dir.path(), Some("prod"));
        source.flags.insert(
            "coordinator.grpc_addr".into(),
            Value::from("127.0.0.1:7100"),
        );
        let config = load(&source);
        let rows = describe(&source);
        unsafe { std::env::remove_var("RTDW_COORDINATOR__HEARTBEAT_TIMEOUT_MS") };
        let config = config.unwrap();
        assert_eq!(config.taskmanager.slots, 7);
        assert_eq!(config.logging.format, LogFormat::Json);
        assert_eq!(config.coordinator.heartbeat_timeout_ms, 20000);
        assert_eq!(config.coordinator.grpc_addr.to_string(), "127.0.0.1:7100");
        assert_eq!(config.coordinator.heartbeat_interval_ms, 1000);
        let origins: BTreeMap<String, String> =
            rows.unwrap().into_iter().map(|(k, _, o)| (k, o)).collect();
        assert!(
            origins["taskmanager.slots"].ends_with("application-prod.yml"),
            "{origins:?}"
        );
        assert_eq!(
            origins["coordinator.heartbeat_timeout_ms"],
            "RTDW_COORDINATOR__HEARTBEAT_TIMEOUT_MS"
        );
        assert_eq!(origins["coordinator.grpc_addr"], "command-line flag");
        assert_eq!(
            origins["coordinator.heartbeat_interval_ms"],
            "built-in default"
        );
    }

    #[test]
    fn job_defaults_and_the_metastore_come_from_the_coordinator_section() {
        let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("application.yml");
        std::fs::write(
            &file,
            "coordinator:\n  metastore: etcd://127.0.0.1:2379\n  job_defaults:\n    execution.checkpointing.interval: 30 s\n",
        )
        .unwrap();
        let config = load(&source(dir.path(), None)).unwrap();
        assert_eq!(
            config
                .coordinator
                .job_defaults
                .get("execution.checkpointing.interval"),
            Some(&"30 s".to_string())
        );
        assert_eq!(
            config.coordinator.metastore.as_deref(),
            Some("etcd://127.0.0.1:2379")
        );

        std::fs::write(&file, "coordinator:\n  metastore: 127.0.0.1:2379\n").unwrap();
        let err = load(&source(dir.path(), None)).unwrap_err().to_string();
        assert!(
            err.contains("coordinator.metastore") && err.contains("not an etcd://host:port URL"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_key_and_the_file() {
        let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("application.yml");
        std::fs::write(&file, "coordinator:\n  grpc_adr: 1.2.3.4:5\n").unwrap();
        let err = load(&source(dir.path(), None)).unwrap_err().to_string();
        assert!(
            err.contains("coordinator.grpc_adr")
                && err.contains(&file.display().to_string())
                && err.contains("unknown field"),
            "{err}"
        );

        std::fs::write(&file, "coordinator:\n  http_addr: nonsense\n").unwrap();
        let err = load(&source(dir.path(), None)).unwrap_err().to_string();
        assert!(
            err.contains("coordinator.http_addr") && err.contains(&file.display().to_string()),
            "{err}"
        );

        std::fs::write(
            &file,
            "coordinator:\n  heartbeat_interval_ms: 500\n  heartbeat_timeout_ms: 100\n",
        )
        .unwrap();
        let err = load(&source(dir.path(), None)).unwrap_err().to_string();
        assert!(
            err.contains("coordinator.heartbeat_timeout_ms") && err.contains("must exceed"),
            "{err}"
        );

        let err = load(&source(dir.path(), Some("staging")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("profile 'staging' has no file"), "{err}");
    }

    #[test]
    fn the_example_profiles_load() {
        let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config");
        assert_eq!(
            load(&source(&dir, None)).unwrap(),
            AppConfig::default(),
            "application.yml restates the defaults"
        );
        assert!(
            load(&source(&dir, Some("dev")))
                .unwrap()
                .logging
                .level
                .contains("rtdw_taskmanager=debug")
        );
        assert_eq!(
            load(&source(&dir, Some("test")))
                .unwrap()
                .coordinator
                .heartbeat_timeout_ms,
            2000
        );
        let prod = load(&source(&dir, Some("prod"))).unwrap();
        assert_eq!(prod.logging.format, LogFormat::Json);
        assert_eq!(prod.taskmanager.http_addr.port(), 9251);
    }

    #[test]
    fn secrets_come_from_the_environment_or_files_and_are_never_shown() {
        let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: the ENV lock keeps other tests of this module from reading the environment meanwhile.
        unsafe {
            std::env::set_var(
                "RTDW_TRACING__OTLP_HEADERS__AUTHORIZATION",
                "Bearer from-env",
            )
        };
        let config = load(&source(dir.path(), None));
        let rows = describe(&source(dir.path(), None));
        unsafe { std::env::remove_var("RTDW_TRACING__OTLP_HEADERS__AUTHORIZATION") };
        let config = config.unwrap();
        assert_eq!(
            config.tracing.otlp_headers["authorization"].expose(),
            "Bearer from-env"
        );
        assert!(!format!("{config:?}").contains("from-env"));
        let row = rows
            .unwrap()
            .into_iter()
            .find(|(k, _, _)| k == "tracing.otlp_headers.authorization")
            .unwrap();
        assert_eq!(row.1, "\"******\"");
        assert_eq!(row.2, "RTDW_TRACING__OTLP_HEADERS__AUTHORIZATION");

        let secret_file = dir.path().join("token");
        std::fs::write(&secret_file, "Bearer from-file\n").unwrap();
        let file = dir.path().join("application.yml");
        std::fs::write(
            &file,
            format!(
                "tracing:\n  otlp_headers:\n    authorization: file:{}\n",
                secret_file.display()
            ),
        )
        .unwrap();
        let config = load(&source(dir.path(), None)).unwrap();
        assert_eq!(
            config.tracing.otlp_headers["authorization"].expose(),
            "Bearer from-file"
        );

        std::fs::write(
            &file,
            "tracing:\n  otlp_headers:\n    authorization: Bearer in-plain-text\n",
        )
        .unwrap();
        let err = load(&source(dir.path(), None)).unwrap_err().to_string();
        assert!(
            err.contains("tracing.otlp_headers.authorization")
                && err.contains("a secret cannot be written in a configuration file"),
            "{err}"
        );
        assert!(!err.contains("in-plain-text"), "{err}");
    }

    #[test]
    fn without_files_everything_is_the_default() {
        let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            load(&source(dir.path(), None)).unwrap(),
            AppConfig::default()
        );
    }
}
