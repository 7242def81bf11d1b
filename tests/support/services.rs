//! Real outside services for end-to-end tests, started and stopped through
//! `deploy/local/services.sh`, the script users and CI run too.
//!
//! Sharing: nextest runs every test in a process of its own, so a service
//! cannot live in a static "once per test binary". Instead a service that
//! tests can share is started once for the whole run by whoever runs the
//! tests (`deploy/local/test.sh` runs `services.sh up s3` with
//! `RTDW_SERVICES_DIR` set, and `down` when the run ends), and
//! [`Service::shared_or_own`] reuses it, found with `services.sh env`;
//! each test then keeps to a bucket (topic, database) of its own. When none
//! runs, as under a plain `cargo test`, the test starts its own instance in
//! a temporary state directory and stops it on drop. etcd is never shared:
//! every rtdw coordinator keeps its jobs under the same key prefix, so a
//! coordinator would resume the jobs of other tests.
//!
//! A service a test started is stopped when the test ends, passing or
//! panicking; a test process killed from outside leaves it running (its
//! state directory names it: `services.sh down --dir DIR`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Names made by this process so far, so that each is unique.
static NAMES: AtomicUsize = AtomicUsize::new(0);

/// A name of this test's own for a database, topic or bucket on a
/// service tests share: `base`, the process id and a counter, joined by
/// `separator` (a character the service allows in its names).
pub fn unique_name(base: &str, separator: char) -> String {
    format!(
        "{base}{separator}{}{separator}{}",
        std::process::id(),
        NAMES.fetch_add(1, Ordering::Relaxed)
    )
}

/// A runtime for a test's own client of `service`, which the test drives
/// by blocking on it.
pub fn client_runtime(service: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("a runtime for the {service} client: {e}"))
}

/// `deploy/local/services.sh` of this checkout.
pub fn services_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/services.sh")
}

/// Runs `services.sh ARGS`, returning its standard output, or its standard
/// error (where it prints a failing service's log) when it fails.
pub fn run_script(args: &[&str]) -> Result<String, String> {
    let output = Command::new("bash")
        .arg(services_script())
        .args(args)
        .output()
        .map_err(|e| format!("run {}: {e}", services_script().display()))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "services.sh {} exited with {}:\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The variables of `export NAME=VALUE` lines.
fn parse_exports(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// Where a service's state lives, and whether this test owns it.
enum StateDir {
    /// A temporary state directory: the service is this test's and is
    /// stopped on drop.
    Own(tempfile::TempDir),
    /// The folder of a run-wide service someone else stops.
    Shared(PathBuf),
}

/// One service run by `services.sh`.
pub struct Service {
    name: String,
    state: StateDir,
    env: BTreeMap<String, String>,
    stopped: bool,
}

impl Service {
    /// Starts `name` (`services.sh up NAME`) in a state directory of its
    /// own, with `extra` options (e.g. `--config prometheus=FILE`); stopped
    /// on drop. Fails the test, with the service's log, when it does not
    /// start.
    pub fn start(name: &str, extra: &[&str]) -> Service {
        let dir = tempfile::Builder::new()
            .prefix(&format!("rtdw-{name}-"))
            .tempdir()
            .expect("create a state directory");
        let state = dir.path().to_str().expect("a UTF-8 temporary path");
        let mut args = vec!["up", name, "--dir", state];
        args.extend_from_slice(extra);
        run_script(&args).unwrap_or_else(|e| panic!("{e}"));
        let env = run_script(&["env", name, "--dir", state]).unwrap_or_else(|e| panic!("{e}"));
        Service {
            name: name.to_string(),
            state: StateDir::Own(dir),
            env: parse_exports(&env),
            stopped: false,
        }
    }

    /// The instance of `name` running for the whole test run (in
    /// `$RTDW_SERVICES_DIR`, else `services.sh`'s default state directory),
    /// else one of this test's own.
    pub fn shared_or_own(name: &str) -> Service {
        match run_script(&["env", name]) {
            Ok(env) => {
                let env = parse_exports(&env);
                let state = format!("RTDW_{}_STATE", name.to_uppercase());
                let dir = env
                    .get(&state)
                    .map(PathBuf::from)
                    .unwrap_or_else(|| panic!("services.sh env {name} prints no {state}"));
                Service {
                    name: name.to_string(),
                    state: StateDir::Shared(dir),
                    env,
                    stopped: false,
                }
            }
            Err(_) => Service::start(name, &[]),
        }
    }

    /// The value of one of the service's `env` variables; fails the test
    /// when the script does not print it.
    pub fn var(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("services.sh env {} prints no {name}", self.name))
    }

    /// The `host:port` of the URL in variable `name`, as
    /// [`super::try_http_get`] takes it.
    pub fn address(&self, name: &str) -> String {
        self.var(name).trim_start_matches("http://").to_string()
    }

    /// Every variable `services.sh env NAME` prints.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// Whether the instance is shared by the test run rather than this
    /// test's own.
    pub fn is_shared(&self) -> bool {
        matches!(self.state, StateDir::Shared(_))
    }

    /// The service's own folder in its state directory: `pid`, `ports`,
    /// `env`, `log` and its data.
    pub fn dir(&self) -> PathBuf {
        match &self.state {
            StateDir::Own(dir) => dir.path().join(&self.name),
            StateDir::Shared(dir) => dir.clone(),
        }
    }

    /// The process id `services.sh` recorded (also the service's process
    /// group).
    pub fn pid(&self) -> u32 {
        let text = fs::read_to_string(self.dir().join("pid"))
            .unwrap_or_else(|e| panic!("{}'s pid file: {e}", self.name));
        text.trim().parse().expect("a pid")
    }

    /// Port `key` of the service (`main` for its own), as recorded.
    pub fn port(&self, key: &str) -> u16 {
        let text = fs::read_to_string(self.dir().join("ports"))
            .unwrap_or_else(|e| panic!("{}'s ports file: {e}", self.name));
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{key}="))?.parse().ok())
            .unwrap_or_else(|| panic!("{} has no port {key}: {text}", self.name))
    }

    /// The service's log so far, for failure messages.
    pub fn log(&self) -> String {
        let path = self.dir().join("log");
        fs::read_to_string(&path)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
    }

    /// Stops the service (`services.sh down NAME`), which returns once no
    /// process of it remains. Only for a service of this test's own.
    pub fn stop(&mut self) {
        assert!(
            !self.is_shared(),
            "{} is shared by the test run: not stopping it",
            self.name
        );
        self.down().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Stops the service and starts it again in the same state directory
    /// (same data, same ports). Only for a service of this test's own.
    pub fn restart(&mut self) {
        self.stop();
        let StateDir::Own(dir) = &self.state else {
            unreachable!("stop refuses shared services");
        };
        let state = dir.path().to_string_lossy().into_owned();
        run_script(&["up", &self.name, "--dir", &state]).unwrap_or_else(|e| panic!("{e}"));
        self.stopped = false;
    }

    /// `services.sh down NAME` once, for a service of this test's own.
    fn down(&mut self) -> Result<(), String> {
        match &self.state {
            StateDir::Own(dir) if !self.stopped => {
                self.stopped = true;
                let state = dir.path().to_string_lossy().into_owned();
                run_script(&["down", &self.name, "--dir", &state]).map(drop)
            }
            _ => Ok(()),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Err(e) = self.down() {
            eprintln!("{e}");
        }
    }
}

/// A single-member etcd cluster of this test's own (see the module doc for
/// why it is never shared), stopped on drop.
pub struct Etcd {
    /// The client URL, e.g. `http://127.0.0.1:PORT`.
    pub endpoint: String,
    service: Service,
}

impl Etcd {
    /// Starts etcd through `services.sh up etcd` and waits until it is
    /// healthy; fails the test with etcd's log when it is not.
    pub fn start() -> Etcd {
        let service = Service::start("etcd", &[]);
        Etcd {
            endpoint: service.var("RTDW_ETCD_ENDPOINT").to_string(),
            service,
        }
    }

    /// The form rtdw's `--metastore` flag takes: `etcd://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.service.var("RTDW_ETCD_URL").to_string()
    }

    /// etcd's log so far (errors only), for test failure messages.
    pub fn log(&self) -> String {
        self.service.log()
    }
}

/// A bucket of this test's own on an S3 API server (s3s-fs, checking
/// request signatures): the run's shared server when there is one, else
/// one of the test's own. The bucket is removed on drop.
pub struct S3Server {
    /// The endpoint URL, `http://127.0.0.1:PORT` (path-style requests).
    pub endpoint: String,
    /// This test's bucket, named after the one asked for and made unique.
    pub bucket: String,
    /// The access key the server accepts.
    pub access_key: String,
    /// The secret key of `access_key`.
    pub secret_key: String,
    /// `RTDW_S3_ROOT/<bucket>`: where the bucket's objects are files.
    bucket_dir: PathBuf,
    service: Service,
}

impl S3Server {
    /// A new, empty bucket named `<bucket>-<process id>-<n>` on the run's
    /// S3 server or one of this test's own; fails the test, with the
    /// server's log, when none can be started.
    pub fn start(bucket: &str) -> S3Server {
        let service = Service::shared_or_own("s3");
        let bucket = unique_name(bucket, '-');
        // s3s-fs serves each folder of its root as a bucket.
        let bucket_dir = Path::new(service.var("RTDW_S3_ROOT")).join(&bucket);
        fs::create_dir_all(&bucket_dir)
            .unwrap_or_else(|e| panic!("create the bucket folder {}: {e}", bucket_dir.display()));
        S3Server {
            endpoint: service.var("RTDW_S3_ENDPOINT").to_string(),
            access_key: service.var("AWS_ACCESS_KEY_ID").to_string(),
            secret_key: service.var("AWS_SECRET_ACCESS_KEY").to_string(),
            bucket,
            bucket_dir,
            service,
        }
    }

    /// The environment variables `object_store`'s
    /// `AmazonS3Builder::from_env()` reads to reach this server: keys,
    /// region, endpoint, plain HTTP and path-style requests. The bucket is
    /// not among them.
    pub fn env(&self) -> Vec<(String, String)> {
        self.service
            .vars()
            .iter()
            .filter(|(name, _)| name.starts_with("AWS_"))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }

    /// The keys of the bucket's objects that start with `prefix` (as S3
    /// prefixes do: `"a/"`, `"a/b"` or `""` for all), sorted. Keys are
    /// whole object keys, relative to the bucket, with `/` separators.
    pub fn objects(&self, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        collect_files(&self.bucket_dir, "", &mut keys);
        keys.retain(|key| key.starts_with(prefix));
        keys.sort();
        keys
    }

    /// The bucket's folder: each object is the file at its key below it.
    pub fn root(&self) -> &Path {
        &self.bucket_dir
    }

    /// The server's log so far, for test failure messages.
    pub fn log(&self) -> String {
        self.service.log()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if self.service.is_shared() {
            let _ = fs::remove_dir_all(&self.bucket_dir);
        }
    }
}

/// Adds the paths of the files below `dir`, each as `prefix` followed by
/// its path relative to `dir` with `/` separators, to `out`.
fn collect_files(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        // A folder removed while listing held no objects.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => panic!("list {}: {e}", dir.display()),
    };
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("list {}: {e}", dir.display()));
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = format!("{prefix}{name}");
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, &format!("{key}/"), out);
        } else if path.is_file() {
            out.push(key);
        }
    }
}
