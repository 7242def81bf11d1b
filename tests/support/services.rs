//! Real outside services for end-to-end tests: a throwaway etcd and a
//! throwaway S3 API server (s3s-fs), each its own process on free loopback
//! ports with its own scratch directory, killed on drop.
//! `deploy/local/setup.sh` installs both binaries.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a service may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How often a service is started again when it exits before it is ready
/// because another process took one of its ports in between.
const START_ATTEMPTS: usize = 3;

/// The path of the executable `name`: on `PATH`, else in `$HOME/.cargo/bin`
/// (where `cargo install` puts it even when that is not on `PATH`).
fn find_binary(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let in_cargo = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin"));
    on_path
        .into_iter()
        .chain(in_cargo)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Like [`find_binary`], failing the test with what to do when `name` is
/// not installed.
fn require_binary(name: &str, what: &str) -> PathBuf {
    find_binary(name).unwrap_or_else(|| {
        panic!(
            "`{name}` ({what}) is not installed: it is neither on PATH nor in \
             $HOME/.cargo/bin; run deploy/local/setup.sh"
        )
    })
}

/// `count` distinct free TCP ports on 127.0.0.1. The listeners are held
/// together so the ports differ, then released for the service to take.
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .expect("local address of a bound listener")
                .port()
        })
        .collect()
}

/// The content of a service's log file, for failure messages.
fn read_log(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

/// Whether a log says the service lost a race for its port.
fn lost_port_race(log: &str) -> bool {
    log.contains("address already in use") || log.contains("Address already in use")
}

/// Kills `child` and reaps it; errors mean it already exited.
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Polls `ready` every 50 ms until it is true. Returns `Err` with the
/// service's log when the process exited first, and fails the test with
/// the log when `READY_TIMEOUT` passes.
fn wait_ready(
    name: &str,
    child: &mut Child,
    log: &Path,
    mut ready: impl FnMut() -> bool,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let is_ready = ready();
        // Checked after `ready`: a port answering while the process has
        // exited belongs to some other process.
        if let Some(status) = child.try_wait().expect("poll the service process") {
            return Err(format!(
                "{name} exited with {status} before it was ready; its log:\n{}",
                read_log(log)
            ));
        }
        if is_ready {
            return Ok(());
        }
        if start.elapsed() > READY_TIMEOUT {
            stop(child);
            panic!(
                "{name} was not ready after {READY_TIMEOUT:?}; its log:\n{}",
                read_log(log)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A single-member etcd cluster of its own, in a temporary data directory,
/// killed on drop.
pub struct Etcd {
    /// The client URL, e.g. `http://127.0.0.1:PORT`.
    pub endpoint: String,
    child: Child,
    /// Holds the data directory and `etcd.log`.
    dir: tempfile::TempDir,
}

impl Etcd {
    /// Starts etcd on two free loopback ports (client and peer) and waits
    /// until `/health` reports `"health":"true"`. Fails the test, with
    /// etcd's log, when it is not healthy within 20 s, and with a pointer
    /// to `deploy/local/setup.sh` when `etcd` is not installed.
    pub fn start() -> Etcd {
        let binary = require_binary("etcd", "the etcd server, Debian package etcd-server");
        let mut attempt = 1;
        loop {
            match Self::try_start(&binary) {
                Ok(etcd) => return etcd,
                Err(log) if attempt < START_ATTEMPTS && lost_port_race(&log) => attempt += 1,
                Err(log) => panic!("{log}"),
            }
        }
    }

    fn try_start(binary: &Path) -> Result<Etcd, String> {
        let dir = tempfile::Builder::new()
            .prefix("rtdw-etcd-")
            .tempdir()
            .expect("create a temporary directory for etcd");
        let ports = free_ports(2);
        let client = format!("http://127.0.0.1:{}", ports[0]);
        let peer = format!("http://127.0.0.1:{}", ports[1]);
        let log = dir.path().join("etcd.log");
        let log_file = fs::File::create(&log).expect("create etcd.log");
        let mut child = Command::new(binary)
            .arg("--name")
            .arg("t")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--listen-client-urls")
            .arg(&client)
            .arg("--advertise-client-urls")
            .arg(&client)
            .arg("--listen-peer-urls")
            .arg(&peer)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer)
            .arg("--initial-cluster")
            .arg(format!("t={peer}"))
            .args(["--logger", "zap", "--log-level", "error"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone the etcd.log handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let address = format!("127.0.0.1:{}", ports[0]);
        wait_ready("etcd", &mut child, &log, || {
            super::try_http_get(&address, "/health")
                .is_ok_and(|body| body.contains(r#""health":"true""#))
        })?;
        Ok(Etcd {
            endpoint: client,
            child,
            dir,
        })
    }

    /// The form rtdw's `--metastore` flag takes: `etcd://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let address = self
            .endpoint
            .strip_prefix("http://")
            .unwrap_or(&self.endpoint);
        format!("etcd://{address}")
    }

    /// etcd's log so far (errors only), for test failure messages.
    pub fn log(&self) -> String {
        read_log(&self.dir.path().join("etcd.log"))
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// An S3 API server of its own (s3s-fs) serving one bucket from a fresh
/// temporary directory, checking request signatures, killed on drop.
pub struct S3Server {
    /// The endpoint URL, `http://127.0.0.1:PORT` (path-style requests).
    pub endpoint: String,
    /// The bucket that exists on start.
    pub bucket: String,
    /// The only access key the server accepts.
    pub access_key: String,
    /// The secret key of `access_key`.
    pub secret_key: String,
    /// Holds `data/` (the server's root, one folder per bucket) and
    /// `s3s-fs.log`.
    root: tempfile::TempDir,
    /// `data/<bucket>`: where the bucket's objects are files.
    bucket_dir: PathBuf,
    child: Child,
}

/// The access key of every test S3 server.
const S3_ACCESS_KEY: &str = "rtdw-test";
/// The secret key of every test S3 server.
const S3_SECRET_KEY: &str = "rtdw-test-secret";

impl S3Server {
    /// Starts s3s-fs on a free loopback port over a fresh root directory
    /// holding the empty bucket `bucket`, and waits until it accepts TCP
    /// connections. Fails the test, with the server's log, when it is not
    /// listening within 20 s, and with a pointer to `deploy/local/setup.sh`
    /// when `s3s-fs` is not installed.
    pub fn start(bucket: &str) -> S3Server {
        let binary = require_binary("s3s-fs", "the S3 API server, `cargo install s3s-fs`");
        let mut attempt = 1;
        loop {
            match Self::try_start(&binary, bucket) {
                Ok(server) => return server,
                Err(log) if attempt < START_ATTEMPTS && lost_port_race(&log) => attempt += 1,
                Err(log) => panic!("{log}"),
            }
        }
    }

    fn try_start(binary: &Path, bucket: &str) -> Result<S3Server, String> {
        let root = tempfile::Builder::new()
            .prefix("rtdw-s3-")
            .tempdir()
            .expect("create a temporary directory for s3s-fs");
        let data = root.path().join("data");
        let bucket_dir = data.join(bucket);
        fs::create_dir_all(&bucket_dir)
            .unwrap_or_else(|e| panic!("create the bucket folder {}: {e}", bucket_dir.display()));
        let port = free_ports(1)[0];
        let log = root.path().join("s3s-fs.log");
        let log_file = fs::File::create(&log).expect("create s3s-fs.log");
        let mut child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone the s3s-fs.log handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        wait_ready("s3s-fs", &mut child, &log, || {
            TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
        })?;
        Ok(S3Server {
            endpoint: format!("http://{address}"),
            bucket: bucket.to_string(),
            access_key: S3_ACCESS_KEY.to_string(),
            secret_key: S3_SECRET_KEY.to_string(),
            root,
            bucket_dir,
            child,
        })
    }

    /// The environment variables `object_store`'s
    /// `AmazonS3Builder::from_env()` reads to reach this server: keys,
    /// region `us-east-1`, endpoint, plain HTTP and path-style requests.
    /// The bucket is not among them.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", self.access_key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT", self.endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
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
        read_log(&self.root.path().join("s3s-fs.log"))
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

impl Drop for S3Server {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
