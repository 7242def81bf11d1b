//! One connection to a Kafka broker, speaking the wire protocol directly
//! through the `kafka-protocol` crate's message codecs: for the transaction
//! requests librdkafka keeps to itself (describing, listing, ending and
//! fencing the transactions of other producers, see
//! [`crate::transactions`]). The connection goes over TLS and
//! authenticates with SASL as the table's `security.protocol` says
//! ([`security`], [`sasl`]). A call negotiates the version with the
//! broker's `ApiVersions` answer and names the broker in every error.

mod sasl;
pub(crate) mod security;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use self::security::Connector;

/// How long connecting, or one request and its response, may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest response accepted: transaction listings of a big cluster
/// stay far below it.
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// The `client.id` of these connections, as brokers log it.
const CLIENT_ID: &str = "rtdw-transactions";

/// What went wrong talking to a broker.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProtocolError {
    /// The connection failed, broke or timed out.
    #[error("broker {broker}: {message}")]
    Connection { broker: String, message: String },
    /// The broker speaks none of the versions this client knows.
    #[error(
        "broker {broker} does not support {api:?} versions {min} to {max} (Kafka 3.0 or newer is needed)"
    )]
    Unsupported {
        broker: String,
        api: ApiKey,
        min: i16,
        max: i16,
    },
    /// The broker refused the connection's TLS or SASL handshake.
    #[error("broker {broker}: {message}")]
    Refused { broker: String, message: String },
    /// A message could not be encoded or decoded.
    #[error("broker {broker}: malformed {api:?} exchange: {message}")]
    Malformed {
        broker: String,
        api: ApiKey,
        message: String,
    },
}

/// A byte stream to a broker: TCP, or TLS over TCP.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// A connection to one broker.
pub(crate) struct Broker {
    address: String,
    stream: Box<dyn Stream>,
    correlation_id: i32,
    /// The versions the broker accepts, by API key.
    versions: BTreeMap<i16, RangeInclusive<i16>>,
}

impl Broker {
    /// Connects to `address` (`host:port`) as `connector` says (TLS,
    /// SASL), and asks which versions it speaks.
    pub(crate) async fn connect(
        address: &str,
        connector: &Connector,
    ) -> Result<Broker, ProtocolError> {
        let tcp = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| connection_error(address, "connecting timed out"))?
            .map_err(|e| connection_error(address, e))?;
        tcp.set_nodelay(true)
            .map_err(|e| connection_error(address, e))?;
        let stream: Box<dyn Stream> = match connector.tls() {
            None => Box::new(tcp),
            Some(tls) => {
                let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let name =
                    rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| {
                        refused(address, format!("'{host}' is no TLS server name: {e}"))
                    })?;
                let handshake = tls.connect(name, tcp);
                let stream = tokio::time::timeout(REQUEST_TIMEOUT, handshake)
                    .await
                    .map_err(|_| connection_error(address, "the TLS handshake timed out"))?
                    .map_err(|e| refused(address, format!("TLS handshake failed: {e}")))?;
                Box::new(stream)
            }
        };
        let mut broker = Broker {
            address: address.to_string(),
            stream,
            correlation_id: 0,
            versions: BTreeMap::new(),
        };
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("rtdw"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let response: ApiVersionsResponse =
            broker.exchange(ApiKey::ApiVersions, 3, &request).await?;
        if response.error_code != 0 {
            return Err(connection_error(
                address,
                format!("ApiVersions failed with error code {}", response.error_code),
            ));
        }
        broker.versions = response
            .api_keys
            .iter()
            .map(|api| (api.api_key, api.min_version..=api.max_version))
            .collect();
        if let Some(credentials) = connector.sasl() {
            sasl::authenticate(&mut broker, credentials).await?;
        }
        Ok(broker)
    }

    /// The error for a handshake this broker refused.
    fn refused(&self, message: String) -> ProtocolError {
        refused(&self.address, message)
    }

    /// Sends `request` of `api` at the highest version in `ours` the broker
    /// also speaks, and returns the response with that version.
    pub(crate) async fn call<Req, Resp>(
        &mut self,
        api: ApiKey,
        ours: RangeInclusive<i16>,
        request: &Req,
    ) -> Result<Resp, ProtocolError>
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable + HeaderVersion,
    {
        let version = self.version(api, &ours)?;
        self.exchange(api, version, request).await
    }

    /// The highest version of `api` in `ours` the broker accepts.
    fn version(&self, api: ApiKey, ours: &RangeInclusive<i16>) -> Result<i16, ProtocolError> {
        let theirs = self.versions.get(&(api as i16));
        let highest = theirs.map(|theirs| (*ours.end()).min(*theirs.end()));
        match (theirs, highest) {
            (Some(theirs), Some(v)) if v >= *ours.start() && v >= *theirs.start() => Ok(v),
            _ => Err(ProtocolError::Unsupported {
                broker: self.address.clone(),
                api,
                min: *ours.start(),
                max: *ours.end(),
            }),
        }
    }

    /// One request and its response at `version`.
    async fn exchange<Req, Resp>(
        &mut self,
        api: ApiKey,
        version: i16,
        request: &Req,
    ) -> Result<Resp, ProtocolError>
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable + HeaderVersion,
    {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let address = self.address.clone();
        let malformed = |message: String| ProtocolError::Malformed {
            broker: address.clone(),
            api,
            message,
        };
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, Req::header_version(version))
            .and_then(|()| request.encode(&mut body, version))
            .map_err(|e| malformed(e.to_string()))?;
        let mut frame = BytesMut::with_capacity(4 + body.len());
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.round_trip(&frame))
            .await
            .map_err(|_| connection_error(&self.address, format!("{api:?} timed out")))?
            .map_err(|e| connection_error(&self.address, e))?;
        let mut response = Bytes::from(response);
        let header = ResponseHeader::decode(&mut response, Resp::header_version(version))
            .map_err(|e| malformed(e.to_string()))?;
        if header.correlation_id != self.correlation_id {
            return Err(malformed(format!(
                "answer {} to request {}",
                header.correlation_id, self.correlation_id
            )));
        }
        Resp::decode(&mut response, version).map_err(|e| malformed(e.to_string()))
    }

    /// Writes one frame and reads the size-prefixed answer.
    async fn round_trip(&mut self, frame: &[u8]) -> std::io::Result<Vec<u8>> {
        self.stream.write_all(frame).await?;
        let size = self.stream.read_i32().await?;
        let size = usize::try_from(size)
            .ok()
            .filter(|size| *size <= MAX_RESPONSE_BYTES)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("response size {size} out of range"),
                )
            })?;
        let mut response = vec![0; size];
        self.stream.read_exact(&mut response).await?;
        Ok(response)
    }
}

fn refused(address: &str, message: String) -> ProtocolError {
    ProtocolError::Refused {
        broker: address.to_string(),
        message,
    }
}

fn connection_error(address: &str, message: impl ToString) -> ProtocolError {
    ProtocolError::Connection {
        broker: address.to_string(),
        message: message.to_string(),
    }
}
