//! How a connection reaches the brokers: the table's
//! `properties.security.protocol` with its SASL and TLS settings, read
//! under librdkafka's names (what the data path's client reads too), so
//! the transaction requests authenticate as the sink's producers do.
//!
//! - `security.protocol`: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`.
//! - SASL: `sasl.mechanism(s)` = `PLAIN`, `SCRAM-SHA-256` or
//!   `SCRAM-SHA-512`, with `sasl.username` and `sasl.password`.
//! - TLS: the brokers' certificates are checked against `ssl.ca.location`
//!   (a PEM file), else the system's roots, and against the broker's host
//!   name unless `ssl.endpoint.identification.algorithm` = `none`;
//!   `ssl.certificate.location` and `ssl.key.location` (PEM) present a
//!   client certificate.
//!
//! Settings are read (and refused, naming the property) when the table is
//! validated; files are read when a task manager first connects.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;

/// A SASL mechanism the transaction requests speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl Mechanism {
    /// The mechanism's name in a `SaslHandshake`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// SASL credentials.
#[derive(Clone)]
pub(crate) struct SaslSettings {
    pub(crate) mechanism: Mechanism,
    pub(crate) username: String,
    pub(crate) password: String,
}

impl std::fmt::Debug for SaslSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslSettings")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// TLS settings, files not yet read.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsSettings {
    ca_location: Option<String>,
    certificate_location: Option<String>,
    key_location: Option<String>,
    verify_host_name: bool,
}

/// How to reach the brokers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Security {
    pub(crate) tls: Option<TlsSettings>,
    pub(crate) sasl: Option<SaslSettings>,
}

/// A client property whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("property '{key}' = '{value}' {expected}")]
pub(crate) struct PropertyError {
    /// The property, without `properties.`.
    pub(crate) key: String,
    pub(crate) value: String,
    /// What it must be.
    pub(crate) expected: String,
}

impl Security {
    /// The settings client `properties` (without `properties.`) describe.
    pub(crate) fn of_properties(
        properties: &BTreeMap<String, String>,
    ) -> Result<Security, PropertyError> {
        let get = |key: &str| properties.get(key).map(|v| v.trim().to_string());
        let refuse = |key: &str, value: &str, expected: &str| PropertyError {
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        };
        let protocol = get("security.protocol").unwrap_or_else(|| "plaintext".into());
        let (tls, sasl) = match protocol.to_ascii_lowercase().as_str() {
            "plaintext" => (false, false),
            "ssl" => (true, false),
            "sasl_plaintext" => (false, true),
            "sasl_ssl" => (true, true),
            _ => {
                return Err(refuse(
                    "security.protocol",
                    &protocol,
                    "must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
                ));
            }
        };
        let sasl = match sasl {
            false => None,
            true => {
                let key = if properties.contains_key("sasl.mechanism") {
                    "sasl.mechanism"
                } else {
                    "sasl.mechanisms"
                };
                let name = get(key).unwrap_or_else(|| "GSSAPI".into());
                let mechanism = match name.to_ascii_uppercase().as_str() {
                    "PLAIN" => Mechanism::Plain,
                    "SCRAM-SHA-256" => Mechanism::ScramSha256,
                    "SCRAM-SHA-512" => Mechanism::ScramSha512,
                    _ => {
                        return Err(refuse(
                            key,
                            &name,
                            "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 for an exactly-once sink (its transaction requests authenticate with it)",
                        ));
                    }
                };
                let credential = |key: &str| {
                    get(key).ok_or_else(|| {
                        refuse(
                            key,
                            "",
                            &format!("must be given with SASL mechanism {}", mechanism.name()),
                        )
                    })
                };
                Some(SaslSettings {
                    mechanism,
                    username: credential("sasl.username")?,
                    password: credential("sasl.password")?,
                })
            }
        };
        let tls = match tls {
            false => None,
            true => {
                let verify_host_name = match get("ssl.endpoint.identification.algorithm") {
                    None => true,
                    Some(value) if value.eq_ignore_ascii_case("https") => true,
                    Some(value) if value.eq_ignore_ascii_case("none") => false,
                    Some(value) => {
                        return Err(refuse(
                            "ssl.endpoint.identification.algorithm",
                            &value,
                            "must be 'https' or 'none'",
                        ));
                    }
                };
                let certificate_location = get("ssl.certificate.location");
                let key_location = get("ssl.key.location");
                if certificate_location.is_some() != key_location.is_some() {
                    return Err(refuse(
                        "ssl.certificate.location",
                        certificate_location.as_deref().unwrap_or_default(),
                        "must be given together with 'ssl.key.location' (PEM files)",
                    ));
                }
                if let Some(password) = get("ssl.key.password") {
                    return Err(refuse(
                        "ssl.key.password",
                        &"*".repeat(password.len().min(8)),
                        "is not supported with an exactly-once sink: give an unencrypted PEM key",
                    ));
                }
                Some(TlsSettings {
                    ca_location: get("ssl.ca.location"),
                    certificate_location,
                    key_location,
                    verify_host_name,
                })
            }
        };
        Ok(Security { tls, sasl })
    }
}

/// What a task manager's connections use: the TLS client (its files read)
/// and the SASL credentials.
#[derive(Clone, Default)]
pub(crate) struct Connector {
    tls: Option<TlsConnector>,
    sasl: Option<SaslSettings>,
}

impl Connector {
    /// The connector `security` describes, reading its TLS files; the
    /// error names the file and what is wrong with it.
    pub(crate) fn new(security: &Security) -> Result<Connector, String> {
        let tls = match &security.tls {
            Some(tls) => Some(TlsConnector::from(tls.client_config()?)),
            None => None,
        };
        Ok(Connector {
            tls,
            sasl: security.sasl.clone(),
        })
    }

    /// The TLS client, when connections use TLS.
    pub(crate) fn tls(&self) -> Option<&TlsConnector> {
        self.tls.as_ref()
    }

    /// The SASL credentials, when connections authenticate.
    pub(crate) fn sasl(&self) -> Option<&SaslSettings> {
        self.sasl.as_ref()
    }
}

impl TlsSettings {
    /// The client configuration: trusted roots, the host-name check and
    /// the client certificate, files read now.
    fn client_config(&self) -> Result<Arc<ClientConfig>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        match &self.ca_location {
            Some(path) => {
                for certificate in CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("cannot read 'ssl.ca.location' {path}: {e}"))?
                {
                    let certificate = certificate
                        .map_err(|e| format!("cannot read 'ssl.ca.location' {path}: {e}"))?;
                    roots
                        .add(certificate)
                        .map_err(|e| format!("'ssl.ca.location' {path}: {e}"))?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
            }
        }
        if roots.is_empty() {
            return Err("no trusted CA certificates: set 'ssl.ca.location'".into());
        }
        let roots = Arc::new(roots);
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = if self.verify_host_name {
            builder.with_root_certificates(roots)
        } else {
            let verifier =
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| e.to_string())?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyHostName(verifier)))
        };
        let config = match (&self.certificate_location, &self.key_location) {
            (Some(certificate), Some(key)) => {
                let chain = CertificateDer::pem_file_iter(certificate)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| {
                        format!("cannot read 'ssl.certificate.location' {certificate}: {e}")
                    })?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| format!("cannot read 'ssl.key.location' {key}: {e}"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("the client certificate: {e}"))?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

/// Checks a broker's certificate chain but not the name in it
/// (`ssl.endpoint.identification.algorithm` = `none`, as librdkafka
/// allows).
#[derive(Debug)]
struct AnyHostName(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn properties(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn protocols_and_mechanisms_are_read_under_librdkafka_names() {
        let plain = Security::of_properties(&properties(&[])).unwrap();
        assert!(plain.tls.is_none() && plain.sasl.is_none());
        let scram = Security::of_properties(&properties(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "u"),
            ("sasl.password", "p"),
        ]))
        .unwrap();
        assert!(scram.tls.is_some());
        assert_eq!(scram.sasl.unwrap().mechanism, Mechanism::ScramSha512);
    }

    #[test]
    fn unusable_settings_name_the_property() {
        let refused =
            |pairs: &[(&str, &str)]| Security::of_properties(&properties(pairs)).unwrap_err().key;
        assert_eq!(
            refused(&[("security.protocol", "tls")]),
            "security.protocol"
        );
        assert_eq!(
            refused(&[
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.username", "u"),
                ("sasl.password", "p")
            ]),
            "sasl.mechanisms",
            "librdkafka's default mechanism is GSSAPI"
        );
        assert_eq!(
            refused(&[
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "PLAIN"),
                ("sasl.username", "u")
            ]),
            "sasl.password"
        );
        assert_eq!(
            refused(&[("security.protocol", "SSL"), ("ssl.key.location", "k.pem")]),
            "ssl.certificate.location"
        );
    }
}
