//! Where checkpoints live: the object storage that holds state files and
//! checkpoint manifests ([`storage`], `file://` or `s3://`), the format of a
//! keyed-state file ([`state_file`]), and the metadata store that points at
//! each job's newest completed checkpoint ([`metastore`], a local directory
//! or etcd).

pub mod error;
pub mod metastore;
pub mod state_file;
pub mod storage;

pub use error::StateError;
pub use metastore::{Metastore, open_metastore};
pub use storage::CheckpointStorage;
