//! Kafka clients of a table (librdkafka, through `rdkafka`), and what a
//! client error means for the job.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::config::{FromClientConfig, FromClientConfigAndContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rtdw_connector_core::options::TableOptions;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::ErrorClass;

use crate::options::{BOOTSTRAP_SERVERS, client_properties};

/// How long one metadata or offset request may take.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of `table`'s cluster: `defaults` (the connector's choices a
/// table may override), then the table's `properties.*`, then `fixed`
/// (settings the connector needs, which a table cannot override).
pub(crate) fn client<C: FromClientConfig>(
    table: &TableDescriptor,
    defaults: &[(&str, &str)],
    fixed: &[(&str, &str)],
) -> Result<C, ConnectorError> {
    config(table, defaults, fixed)?
        .create()
        .map_err(|e| kafka_error(table, "cannot create the Kafka client", e))
}

/// A client as [`client`] makes it, with `context` handling its events.
pub(crate) fn client_with_context<X: ClientContext, C: FromClientConfigAndContext<X>>(
    table: &TableDescriptor,
    defaults: &[(&str, &str)],
    fixed: &[(&str, &str)],
    context: X,
) -> Result<C, ConnectorError> {
    config(table, defaults, fixed)?
        .create_with_context(context)
        .map_err(|e| kafka_error(table, "cannot create the Kafka client", e))
}

/// The client configuration of [`client`].
fn config(
    table: &TableDescriptor,
    defaults: &[(&str, &str)],
    fixed: &[(&str, &str)],
) -> Result<ClientConfig, ConnectorError> {
    TableOptions::new(table).require_string(&BOOTSTRAP_SERVERS)?;
    let mut config = ClientConfig::new();
    for (key, value) in defaults {
        config.set(*key, *value);
    }
    for (key, value) in client_properties(table) {
        config.set(key, value);
    }
    for (key, value) in fixed {
        config.set(*key, *value);
    }
    Ok(config)
}

/// A client error of `table`, classed: a bad property, an unknown topic or
/// refused credentials are the user's to fix; anything else (an unreachable
/// broker, a timeout) may pass and goes through the restart strategy.
pub(crate) fn kafka_error(
    table: &TableDescriptor,
    context: &str,
    error: KafkaError,
) -> ConnectorError {
    let class = match &error {
        KafkaError::ClientConfig(..) | KafkaError::ClientCreation(_) | KafkaError::Nul(_) => {
            ErrorClass::User
        }
        other => match other.rdkafka_error_code() {
            Some(
                RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::GroupAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::InvalidConfig
                | RDKafkaErrorCode::InvalidArgument
                | RDKafkaErrorCode::InvalidTopic,
            ) => ErrorClass::User,
            _ => ErrorClass::Transient,
        },
    };
    ConnectorError::external(&table.name, context, class, error)
}
