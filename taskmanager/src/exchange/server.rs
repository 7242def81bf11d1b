//! The Flight service of a task manager: accepts `DoPut` streams from
//! upstream subtasks on other task managers and feeds them into the local
//! channel queues.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use futures::{Stream, StreamExt};
use prost::Message;
use rtdw_proto::v1::ChannelHeader;
use tonic::{Request, Response, Status, Streaming};

use super::codec::Decoder;
use super::registry::{ChannelKey, ChannelRegistry};

/// How long an incoming stream waits for its downstream subtask to be deployed.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(60);

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Receives data for this task manager's subtasks.
pub struct ExchangeService {
    registry: Arc<ChannelRegistry>,
}

impl ExchangeService {
    /// A service feeding the channels of `registry`.
    pub fn new(registry: Arc<ChannelRegistry>) -> Self {
        ExchangeService { registry }
    }
}

fn channel_key(descriptor: Option<&FlightDescriptor>) -> Result<ChannelKey, Status> {
    let descriptor = descriptor
        .ok_or_else(|| Status::invalid_argument("the first message must name the channel"))?;
    let header = ChannelHeader::decode(descriptor.cmd.as_ref())
        .map_err(|e| Status::invalid_argument(format!("malformed channel header: {e}")))?;
    Ok(ChannelKey {
        job_id: header.job_id,
        attempt: header.attempt,
        edge_id: header.edge_id,
        source_subtask: header.source_subtask,
        target_subtask: header.target_subtask,
    })
}

#[tonic::async_trait]
impl FlightService for ExchangeService {
    type HandshakeStream = BoxStream<HandshakeResponse>;
    type ListFlightsStream = BoxStream<FlightInfo>;
    type DoGetStream = BoxStream<FlightData>;
    type DoPutStream = BoxStream<PutResult>;
    type DoActionStream = BoxStream<arrow_flight::Result>;
    type ListActionsStream = BoxStream<ActionType>;
    type DoExchangeStream = BoxStream<FlightData>;

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        let mut incoming = request.into_inner();
        let first = incoming
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("empty stream"))?;
        let key = channel_key(first.flight_descriptor.as_ref())?;
        let sender = self
            .registry
            .claim(&key, CLAIM_TIMEOUT)
            .await
            .ok_or_else(|| Status::not_found(format!("no subtask waits for channel {key:?}")))?;
        let mut decoder = Decoder::default();
        let forwarded = async move {
            while let Some(data) = incoming.message().await? {
                let element = decoder
                    .decode(&data)
                    .map_err(|e| Status::invalid_argument(format!("channel {key:?}: {e}")))?;
                if let Some(element) = element {
                    // Waiting here is the backpressure: no further message is
                    // read until the subtask's queue has room.
                    if sender.send(element).await.is_err() {
                        return Err(Status::cancelled(format!(
                            "the subtask of channel {key:?} is gone"
                        )));
                    }
                }
            }
            Ok::<(), Status>(())
        };
        let outcome =
            futures::stream::once(forwarded).filter_map(|r| async move { r.err().map(Err) });
        Ok(Response::new(Box::pin(outcome)))
    }

    async fn handshake(
        &self,
        _: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        Err(Status::unimplemented(
            "handshake is not used by rtdw's data exchange",
        ))
    }

    async fn list_flights(
        &self,
        _: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        Err(Status::unimplemented(
            "list_flights is not used by rtdw's data exchange",
        ))
    }

    async fn get_flight_info(
        &self,
        _: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(Status::unimplemented(
            "get_flight_info is not used by rtdw's data exchange",
        ))
    }

    async fn poll_flight_info(
        &self,
        _: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        Err(Status::unimplemented(
            "poll_flight_info is not used by rtdw's data exchange",
        ))
    }

    async fn get_schema(
        &self,
        _: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        Err(Status::unimplemented(
            "get_schema is not used by rtdw's data exchange",
        ))
    }

    async fn do_get(&self, _: Request<Ticket>) -> Result<Response<Self::DoGetStream>, Status> {
        Err(Status::unimplemented(
            "do_get is not used by rtdw's data exchange",
        ))
    }

    async fn do_action(
        &self,
        _: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        Err(Status::unimplemented(
            "do_action is not used by rtdw's data exchange",
        ))
    }

    async fn list_actions(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        Err(Status::unimplemented(
            "list_actions is not used by rtdw's data exchange",
        ))
    }

    async fn do_exchange(
        &self,
        _: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        Err(Status::unimplemented(
            "do_exchange is not used by rtdw's data exchange",
        ))
    }
}
