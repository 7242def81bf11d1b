//! Secret configuration values: read from the environment or from a file
//! (`file:/path/to/secret`), never from a configuration file in plain text,
//! and never shown: `Debug` and serialization (hence `rtdw config show`)
//! print `******`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a secret shows instead of its value.
pub const REDACTED: &str = "******";

/// Prefix of a secret read from a file.
pub const FILE_PREFIX: &str = "file:";

/// A secret value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    /// Whether it was given as `file:...` (allowed in configuration files).
    from_file: bool,
}

impl Secret {
    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// True when the value was read from a file.
    pub fn was_read_from_file(&self) -> bool {
        self.from_file
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.strip_prefix(FILE_PREFIX) {
            Some(path) => {
                let value = std::fs::read_to_string(path.trim()).map_err(|e| {
                    serde::de::Error::custom(format!(
                        "cannot read the secret file {}: {e}",
                        path.trim()
                    ))
                })?;
                Ok(Secret {
                    value: value.trim_end_matches(['\n', '\r']).to_string(),
                    from_file: true,
                })
            }
            None => Ok(Secret {
                value: text,
                from_file: false,
            }),
        }
    }
}
