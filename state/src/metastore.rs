//! The metadata store: a small key-value store for what must survive a
//! coordinator restart (jobs and the pointer to each job's newest completed
//! checkpoint). An embedded local directory is the zero-setup default; a
//! cluster uses etcd.

use std::path::PathBuf;
use std::sync::Arc;

use etcd_client::{Client, GetOptions};

use crate::error::{Result, StateError};

/// A key-value store of job metadata. Keys are `/`-separated paths.
#[async_trait::async_trait]
pub trait Metastore: Send + Sync {
    /// Stores `value` under `key`, atomically replacing what was there.
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()>;
    /// The value under `key`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Removes `key`; a missing key is no error.
    async fn delete(&self, key: &str) -> Result<()>;
    /// Every key directly in the directory `prefix` (ending in `/`), with its
    /// value, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>>;
    /// Where it is, for logs.
    fn describe(&self) -> String;
}

/// Opens the metadata store at `url`: `etcd://host:port[,host:port...]`,
/// `file:///dir`, or a plain directory path.
pub async fn open_metastore(url: &str) -> Result<Arc<dyn Metastore>> {
    if let Some(endpoints) = url.strip_prefix("etcd://") {
        let endpoints: Vec<String> = endpoints
            .trim_end_matches('/')
            .split(',')
            .filter(|e| !e.is_empty())
            .map(|e| format!("http://{e}"))
            .collect();
        if endpoints.is_empty() {
            return Err(StateError::InvalidUrl {
                what: "metastore",
                url: url.to_string(),
                reason: "expected etcd://host:port[,host:port...]".into(),
            });
        }
        let client = Client::connect(&endpoints, None).await?;
        return Ok(Arc::new(EtcdMetastore {
            client,
            endpoints: endpoints.join(","),
        }));
    }
    let dir = PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|source| StateError::LocalIo {
            path: dir.display().to_string(),
            source,
        })?;
    Ok(Arc::new(LocalMetastore { dir }))
}

/// The metadata store in a local directory: one file per key, replaced by
/// writing a temporary file and renaming it over.
pub struct LocalMetastore {
    dir: PathBuf,
}

impl LocalMetastore {
    fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
        move |source| StateError::LocalIo {
            path: path.display().to_string(),
            source,
        }
    }
}

#[async_trait::async_trait]
impl Metastore for LocalMetastore {
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        let path = self.dir.join(key);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(Self::io(parent))?;
        }
        let temporary = path.with_extension("tmp-write");
        tokio::fs::write(&temporary, value)
            .await
            .map_err(Self::io(&temporary))?;
        tokio::fs::rename(&temporary, &path)
            .await
            .map_err(Self::io(&path))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.dir.join(key);
        match tokio::fs::read(&path).await {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io(&path)(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.dir.join(key);
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Self::io(&path)(e)),
            _ => Ok(()),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let dir = self.dir.join(prefix);
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::io(&dir)(e)),
        };
        let mut found = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(Self::io(&dir))? {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".tmp-write") || !entry.path().is_file() {
                continue;
            }
            let value = tokio::fs::read(entry.path())
                .await
                .map_err(Self::io(&entry.path()))?;
            found.push((format!("{prefix}{name}"), value));
        }
        found.sort();
        Ok(found)
    }

    fn describe(&self) -> String {
        format!("local directory {}", self.dir.display())
    }
}

/// Keys live under this prefix in etcd, so rtdw can share an etcd cluster.
const ETCD_PREFIX: &str = "/rtdw/";

/// The metadata store in etcd.
pub struct EtcdMetastore {
    client: Client,
    endpoints: String,
}

#[async_trait::async_trait]
impl Metastore for EtcdMetastore {
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.client
            .kv_client()
            .put(format!("{ETCD_PREFIX}{key}"), value, None)
            .await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let response = self
            .client
            .kv_client()
            .get(format!("{ETCD_PREFIX}{key}"), None)
            .await?;
        Ok(response.kvs().first().map(|kv| kv.value().to_vec()))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.client
            .kv_client()
            .delete(format!("{ETCD_PREFIX}{key}"), None)
            .await?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let full = format!("{ETCD_PREFIX}{prefix}");
        let response = self
            .client
            .kv_client()
            .get(full.clone(), Some(GetOptions::new().with_prefix()))
            .await?;
        let mut found: Vec<(String, Vec<u8>)> = response
            .kvs()
            .iter()
            .filter_map(|kv| {
                let key = std::str::from_utf8(kv.key()).ok()?;
                let rest = key.strip_prefix(&full)?;
                (!rest.contains('/')).then(|| (format!("{prefix}{rest}"), kv.value().to_vec()))
            })
            .collect();
        found.sort();
        Ok(found)
    }

    fn describe(&self) -> String {
        format!("etcd {}", self.endpoints)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_local_store_puts_gets_lists_and_deletes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_metastore(&dir.path().display().to_string())
            .await
            .expect("open");
        store.put("jobs/a", b"1".to_vec()).await.expect("put");
        store.put("jobs/b", b"2".to_vec()).await.expect("put");
        store.put("jobs/a", b"3".to_vec()).await.expect("replace");
        store
            .put("checkpoints/a", b"9".to_vec())
            .await
            .expect("put");
        assert_eq!(store.get("jobs/a").await.expect("get"), Some(b"3".to_vec()));
        assert_eq!(
            store.list("jobs/").await.expect("list"),
            vec![
                ("jobs/a".into(), b"3".to_vec()),
                ("jobs/b".into(), b"2".to_vec())
            ]
        );
        store.delete("jobs/a").await.expect("delete");
        store
            .delete("jobs/a")
            .await
            .expect("deleting twice is fine");
        assert_eq!(store.get("jobs/a").await.expect("get"), None);
    }
}
