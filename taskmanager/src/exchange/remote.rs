//! The sending end of a channel to a subtask on another task manager.

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{FlightData, FlightDescriptor};
use futures::StreamExt;
use prost::Message;
use rtdw_operators::{Element, StreamError};
use rtdw_proto::v1::ChannelHeader;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use super::CHANNEL_CAPACITY;
use super::codec::Encoder;

/// Sends one channel's elements over an Arrow Flight `DoPut` stream.
pub struct RemoteSender {
    encoder: Encoder,
    messages: mpsc::Sender<FlightData>,
    /// Resolves with the stream's outcome once the receiver has read it all.
    outcome: oneshot::Receiver<Result<(), String>>,
}

impl RemoteSender {
    /// Opens the stream for `header` over `channel`.
    pub fn open(channel: Channel, header: ChannelHeader) -> Self {
        let (messages, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        let first = FlightData {
            flight_descriptor: Some(FlightDescriptor::new_cmd(header.encode_to_vec())),
            ..Default::default()
        };
        let (done, outcome) = oneshot::channel();
        tokio::spawn(async move {
            let mut client = FlightServiceClient::new(channel);
            let requests =
                futures::stream::once(async { first }).chain(ReceiverStream::new(receiver));
            let result = async {
                let mut responses = client.do_put(requests).await?.into_inner();
                while responses.message().await?.is_some() {}
                Ok::<(), tonic::Status>(())
            }
            .await
            .map_err(|status| status.message().to_string());
            let _ = done.send(result);
        });
        RemoteSender {
            encoder: Encoder::default(),
            messages,
            outcome,
        }
    }

    /// Sends an element, waiting while the network or the receiver is busy.
    pub async fn send(&mut self, element: &Element) -> Result<(), StreamError> {
        let messages = self
            .encoder
            .encode(element)
            .map_err(|e| StreamError::Failed(format!("cannot encode for the network: {e}")))?;
        for message in messages {
            if self.messages.send(message).await.is_err() {
                return Err(self.failure().await);
            }
        }
        Ok(())
    }

    /// Ends the stream and waits until the receiver has taken everything.
    pub async fn close(self) -> Result<(), StreamError> {
        drop(self.messages);
        match self.outcome.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StreamError::PeerGone(format!(
                "data exchange failed: {message}"
            ))),
            Err(_) => Err(StreamError::PeerGone(
                "data exchange task ended unexpectedly".into(),
            )),
        }
    }

    async fn failure(&mut self) -> StreamError {
        match (&mut self.outcome).await {
            Ok(Err(message)) => StreamError::PeerGone(format!("data exchange failed: {message}")),
            _ => StreamError::PeerGone("data exchange closed unexpectedly".into()),
        }
    }
}
