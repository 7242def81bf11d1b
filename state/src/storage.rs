//! Checkpoint storage through `object_store`: a local directory
//! (`file:///path`, or a plain absolute path) or an S3 bucket
//! (`s3://bucket/prefix`, credentials and endpoint from the standard `AWS_*`
//! environment variables, e.g. `AWS_ENDPOINT` and `AWS_ALLOW_HTTP` for a
//! self-hosted S3 API).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::error::{Result, StateError};

/// One directory of checkpoint storage.
#[derive(Clone)]
pub struct CheckpointStorage {
    store: Arc<dyn ObjectStore>,
    root: Path,
    url: String,
}

impl std::fmt::Debug for CheckpointStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

/// Object stores by scheme and bucket, shared by everything in the process
/// so that connections are reused.
fn stores() -> &'static Mutex<HashMap<String, Arc<dyn ObjectStore>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

/// Splits a storage URL into the store it lives in and the path inside it.
fn parse(url: &str) -> Result<(String, String)> {
    let invalid = |reason: &str| StateError::InvalidUrl {
        what: "checkpoint storage location",
        url: url.to_string(),
        reason: reason.to_string(),
    };
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid("expected s3://bucket/prefix"));
        }
        return Ok((format!("s3://{bucket}"), prefix.to_string()));
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    if !path.starts_with('/') {
        return Err(invalid(
            "expected file:///absolute/path, an absolute path, or s3://bucket/prefix",
        ));
    }
    Ok(("file://".to_string(), path.to_string()))
}

fn build_store(key: &str) -> Result<Arc<dyn ObjectStore>> {
    Ok(match key.strip_prefix("s3://") {
        Some(bucket) => Arc::new(
            AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()?,
        ),
        None => Arc::new(LocalFileSystem::new().with_automatic_cleanup(true)),
    })
}

impl CheckpointStorage {
    /// The storage directory at `url`.
    pub fn open(url: &str) -> Result<Self> {
        let (key, path) = parse(url)?;
        let store = {
            let mut stores = stores().lock().unwrap_or_else(|p| p.into_inner());
            match stores.get(&key) {
                Some(store) => store.clone(),
                None => {
                    let store = build_store(&key)?;
                    stores.insert(key, store.clone());
                    store
                }
            }
        };
        Ok(CheckpointStorage {
            store,
            root: Path::from(path.trim_matches('/')),
            url: url.trim_end_matches('/').to_string(),
        })
    }

    /// The directory's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The storage directory `name` below this one.
    pub fn child(&self, name: &str) -> CheckpointStorage {
        CheckpointStorage {
            store: self.store.clone(),
            root: self.path(name),
            url: format!("{}/{name}", self.url),
        }
    }

    /// The URL of file `name` in this directory, for messages.
    pub fn file_url(&self, name: &str) -> String {
        format!("{}/{name}", self.url)
    }

    fn path(&self, name: &str) -> Path {
        name.split('/')
            .filter(|part| !part.is_empty())
            .fold(self.root.clone(), |path, part| path.join(part))
    }

    /// Writes file `name`, replacing it.
    pub async fn put(&self, name: &str, bytes: Bytes) -> Result<()> {
        self.store
            .put(&self.path(name), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// Reads file `name`; a missing file is [`StateError::Missing`].
    pub async fn get(&self, name: &str) -> Result<Bytes> {
        let missing = || StateError::Missing {
            path: self.file_url(name),
        };
        match self.store.get(&self.path(name)).await {
            Ok(result) => Ok(result.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(missing()),
            Err(e) => Err(e.into()),
        }
    }

    /// The files below this directory, as names relative to it, sorted.
    pub async fn list(&self) -> Result<Vec<String>> {
        let prefix = self.root.clone();
        let mut names: Vec<String> = self
            .store
            .list(Some(&prefix))
            .map_ok(|meta| {
                meta.location
                    .prefix_match(&prefix)
                    .map(|parts| {
                        parts
                            .map(|p| p.as_ref().to_string())
                            .collect::<Vec<_>>()
                            .join("/")
                    })
                    .unwrap_or_default()
            })
            .try_collect()
            .await?;
        names.sort();
        Ok(names)
    }

    /// Deletes everything below this directory.
    pub async fn delete_all(&self) -> Result<()> {
        for name in self.list().await? {
            match self.store.delete(&self.path(&name)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_round_trip_list_and_delete_in_a_local_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("file://{}", dir.path().display());
        let storage = CheckpointStorage::open(&url)
            .expect("open")
            .child("job/chk-1");
        storage
            .put("a/x.arrow", Bytes::from_static(b"one"))
            .await
            .expect("put");
        storage
            .put("_metadata", Bytes::from_static(b"two"))
            .await
            .expect("put");
        assert_eq!(storage.get("a/x.arrow").await.expect("get"), "one");
        assert_eq!(
            storage.list().await.expect("list"),
            vec!["_metadata", "a/x.arrow"]
        );
        let missing = storage.get("nope").await.expect_err("missing");
        assert_eq!(
            missing.to_string(),
            format!("checkpoint file {url}/job/chk-1/nope is missing")
        );
        storage.delete_all().await.expect("delete");
        assert!(storage.list().await.expect("list").is_empty());
    }

    #[test]
    fn a_relative_path_is_refused_with_what_was_expected() {
        let error = CheckpointStorage::open("chk").expect_err("relative");
        assert!(
            error.to_string().contains("expected file:///absolute/path"),
            "{error}"
        );
    }
}
