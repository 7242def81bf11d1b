//! Transactions of other producers, by transactional id: what the
//! exactly-once sink needs after a restore and librdkafka cannot do.
//! librdkafka finishes only the transaction of the producer instance that
//! began it; a prepared transaction whose producer died with its task
//! manager is reached here through its transaction coordinator instead:
//! described (`DescribeTransactions`), committed by its producer id and
//! epoch (`EndTxn`), or aborted with its producer fenced
//! (`InitProducerId`), and the open ones of a prefix are found on every
//! broker (`ListTransactions`). `docs/connectors/kafka.md` says why the
//! sink is exactly once with them.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, BrokerId, DescribeTransactionsRequest, DescribeTransactionsResponse, EndTxnRequest,
    EndTxnResponse, FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest,
    InitProducerIdResponse, ListTransactionsRequest, ListTransactionsResponse, MetadataRequest,
    MetadataResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

use crate::protocol::security::Connector;
use crate::protocol::{Broker, ProtocolError};

/// How often a retriable answer (a coordinator loading or moving, a
/// transaction still completing) is retried before the request fails.
const ATTEMPTS: u32 = 100;

/// The pause before retrying, growing to at most a second.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((50 * u64::from(attempt + 1)).min(1_000))
}

/// `FindCoordinator`'s key type of a transactional id.
const TRANSACTION_KEY: i8 = 1;

/// What went wrong with a transaction request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransactionError {
    /// A broker could not be reached or understood.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The broker refused the request.
    #[error("{api:?} of transactional id '{id}' was refused: {error}")]
    Refused {
        api: ApiKey,
        id: String,
        error: ResponseError,
    },
    /// No bootstrap broker answered.
    #[error("no bootstrap broker of '{bootstrap}' answers: {last}")]
    Unreachable { bootstrap: String, last: String },
}

/// A transaction as its coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Described {
    /// `Empty`, `Ongoing`, `PrepareCommit`, `CompleteCommit`,
    /// `PrepareAbort`, `CompleteAbort`, `PrepareEpochFence` or `Dead`.
    pub state: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// Connections to the brokers of one cluster, and where the coordinator of
/// each transactional id is.
pub(crate) struct TransactionAdmin {
    /// `properties.bootstrap.servers`, as written.
    bootstrap: String,
    /// How connections are made (TLS, SASL).
    connector: Connector,
    /// Open connections, by `host:port`.
    brokers: HashMap<String, Broker>,
    /// The coordinator of each transactional id asked about, by id.
    coordinators: HashMap<String, String>,
}

impl TransactionAdmin {
    /// An admin of the cluster behind `bootstrap` (comma-separated
    /// `host:port`s), connecting through `connector`; it connects at its
    /// first request.
    pub(crate) fn new(bootstrap: &str, connector: Connector) -> Self {
        TransactionAdmin {
            bootstrap: bootstrap.to_string(),
            connector,
            brokers: HashMap::new(),
            coordinators: HashMap::new(),
        }
    }

    /// The transaction of `id`, `None` when the broker knows no such id
    /// (never used, or expired after `transactional.id.expiration.ms`).
    pub(crate) async fn describe(
        &mut self,
        id: &str,
    ) -> Result<Option<Described>, TransactionError> {
        let request = DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(StrBytes::from_string(id.to_string()))]);
        let response = self
            .coordinator_request(
                id,
                ApiKey::DescribeTransactions,
                0..=0,
                &request,
                |r: &DescribeTransactionsResponse| {
                    r.transaction_states
                        .first()
                        .map_or(-1, |state| state.error_code)
                },
            )
            .await;
        match response {
            Ok(response) => {
                Ok(response
                    .transaction_states
                    .into_iter()
                    .next()
                    .map(|state| Described {
                        state: state.transaction_state.to_string(),
                        producer_id: state.producer_id.0,
                        producer_epoch: state.producer_epoch,
                    }))
            }
            Err(TransactionError::Refused {
                error: ResponseError::TransactionalIdNotFound,
                ..
            }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Commits the transaction of `id` that producer `producer_id` at
    /// `producer_epoch` began, waiting while it completes.
    pub(crate) async fn commit(
        &mut self,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<(), TransactionError> {
        // Versions 5 and up end the transaction under KIP-890's protocol,
        // which bumps the epoch; the sink's producers (librdkafka) begin
        // theirs under the earlier one, so they are ended the same way.
        let request = EndTxnRequest::default()
            .with_transactional_id(TransactionalId(StrBytes::from_string(id.to_string())))
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(producer_epoch)
            .with_committed(true);
        self.coordinator_request(id, ApiKey::EndTxn, 0..=4, &request, |r: &EndTxnResponse| {
            r.error_code
        })
        .await?;
        Ok(())
    }

    /// Aborts whatever transaction `id` has open and fences its producer:
    /// the coordinator bumps the id's epoch, so a producer still holding
    /// the old one (a task manager cut off, not dead) can no longer write
    /// or commit. `timeout_ms` becomes the id's transaction timeout.
    pub(crate) async fn abort_and_fence(
        &mut self,
        id: &str,
        timeout_ms: i32,
    ) -> Result<(), TransactionError> {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(StrBytes::from_string(id.to_string()))))
            .with_transaction_timeout_ms(timeout_ms);
        self.coordinator_request(
            id,
            ApiKey::InitProducerId,
            0..=4,
            &request,
            |r: &InitProducerIdResponse| r.error_code,
        )
        .await?;
        Ok(())
    }

    /// The transactional ids with an `Ongoing` transaction that start with
    /// `prefix`, over every broker of the cluster (each lists those it
    /// coordinates).
    pub(crate) async fn ongoing(&mut self, prefix: &str) -> Result<Vec<String>, TransactionError> {
        let mut ids = Vec::new();
        for address in self.broker_addresses().await? {
            let request = ListTransactionsRequest::default()
                .with_state_filters(vec![StrBytes::from_static_str("Ongoing")]);
            let response: ListTransactionsResponse = self
                .call_at(&address, ApiKey::ListTransactions, 0..=1, &request)
                .await?;
            if let Some(error) = ResponseError::try_from_code(response.error_code) {
                return Err(refused(ApiKey::ListTransactions, prefix, error));
            }
            ids.extend(
                response
                    .transaction_states
                    .into_iter()
                    .map(|state| state.transactional_id.0.to_string())
                    .filter(|id| id.starts_with(prefix)),
            );
        }
        Ok(ids)
    }

    /// Every broker of the cluster, as `host:port`.
    async fn broker_addresses(&mut self) -> Result<Vec<String>, TransactionError> {
        let request = MetadataRequest::default().with_topics(Some(Vec::new()));
        let bootstrap = self.bootstrap_address().await?;
        let response: MetadataResponse = self
            .call_at(&bootstrap, ApiKey::Metadata, 1..=12, &request)
            .await?;
        Ok(response
            .brokers
            .iter()
            .map(|broker| format!("{}:{}", broker.host, broker.port))
            .collect())
    }

    /// Sends `request` to the coordinator of `id` until its answer
    /// (`error_code` reads the error code) is not a retriable error; a
    /// coordinator that failed to answer is looked up again.
    async fn coordinator_request<Req, Resp>(
        &mut self,
        id: &str,
        api: ApiKey,
        versions: RangeInclusive<i16>,
        request: &Req,
        error_code: impl Fn(&Resp) -> i16 + Send,
    ) -> Result<Resp, TransactionError>
    where
        Req: Encodable + HeaderVersion + Sync,
        Resp: Decodable + HeaderVersion + Send,
    {
        let mut attempt = 0;
        loop {
            let address = self.coordinator(id).await?;
            let response: Resp = match self.call_at(&address, api, versions.clone(), request).await
            {
                Ok(response) => response,
                Err(error) => {
                    self.coordinators.remove(id);
                    return Err(error);
                }
            };
            match ResponseError::try_from_code(error_code(&response)) {
                None => return Ok(response),
                Some(error) => self.retry_or_fail(api, id, error, attempt).await?,
            }
            attempt += 1;
        }
    }

    /// Sends `request` to the broker at `address`, connecting when there
    /// is no connection; a connection that failed is dropped.
    async fn call_at<Req, Resp>(
        &mut self,
        address: &str,
        api: ApiKey,
        versions: RangeInclusive<i16>,
        request: &Req,
    ) -> Result<Resp, TransactionError>
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable + HeaderVersion,
    {
        if !self.brokers.contains_key(address) {
            let broker = Broker::connect(address, &self.connector).await?;
            self.brokers.insert(address.to_string(), broker);
        }
        let broker = self
            .brokers
            .get_mut(address)
            .expect("the connection was just made");
        let result = broker.call(api, versions, request).await;
        if result.is_err() {
            self.brokers.remove(address);
        }
        Ok(result?)
    }

    /// The `host:port` of the coordinator of `id`, found once.
    async fn coordinator(&mut self, id: &str) -> Result<String, TransactionError> {
        if let Some(address) = self.coordinators.get(id) {
            return Ok(address.clone());
        }
        let request = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(id.to_string()))
            .with_key_type(TRANSACTION_KEY);
        let mut attempt = 0;
        loop {
            let bootstrap = self.bootstrap_address().await?;
            // Versions 4 and up ask for several keys at once, in another
            // shape; one key at a time is all this needs.
            let response: FindCoordinatorResponse = self
                .call_at(&bootstrap, ApiKey::FindCoordinator, 1..=3, &request)
                .await?;
            let error = match ResponseError::try_from_code(response.error_code) {
                None if response.node_id != BrokerId(-1) => {
                    let address = format!("{}:{}", response.host, response.port);
                    self.coordinators.insert(id.to_string(), address.clone());
                    return Ok(address);
                }
                None => ResponseError::CoordinatorNotAvailable,
                Some(error) => error,
            };
            self.retry_or_fail(ApiKey::FindCoordinator, id, error, attempt)
                .await?;
            attempt += 1;
        }
    }

    /// The first bootstrap broker that answers.
    async fn bootstrap_address(&mut self) -> Result<String, TransactionError> {
        let addresses: Vec<String> = self
            .bootstrap
            .split(',')
            .map(|address| address.trim().to_string())
            .filter(|address| !address.is_empty())
            .collect();
        let mut last = String::from("no address given");
        for address in addresses {
            if self.brokers.contains_key(&address) {
                return Ok(address);
            }
            match Broker::connect(&address, &self.connector).await {
                Ok(broker) => {
                    self.brokers.insert(address.clone(), broker);
                    return Ok(address);
                }
                Err(error) => last = error.to_string(),
            }
        }
        Err(TransactionError::Unreachable {
            bootstrap: self.bootstrap.clone(),
            last,
        })
    }

    /// Waits before the next attempt when `error` may pass (forgetting the
    /// coordinator when it moved), else fails with it.
    async fn retry_or_fail(
        &mut self,
        api: ApiKey,
        id: &str,
        error: ResponseError,
        attempt: u32,
    ) -> Result<(), TransactionError> {
        let retriable = matches!(
            error,
            ResponseError::CoordinatorLoadInProgress
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::NotCoordinator
                | ResponseError::ConcurrentTransactions
        );
        if !retriable || attempt + 1 >= ATTEMPTS {
            return Err(refused(api, id, error));
        }
        if matches!(
            error,
            ResponseError::NotCoordinator | ResponseError::CoordinatorNotAvailable
        ) {
            self.coordinators.remove(id);
        }
        tokio::time::sleep(backoff(attempt)).await;
        Ok(())
    }
}

/// The broker refused `api` for `id` with `error`.
fn refused(api: ApiKey, id: &str, error: ResponseError) -> TransactionError {
    TransactionError::Refused {
        api,
        id: id.to_string(),
        error,
    }
}
