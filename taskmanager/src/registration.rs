//! Registering with the coordinator and heartbeating, re-registering when
//! the coordinator no longer knows this task manager.

use rtdw_observability::traces::traced_request;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use rtdw_observability::Observability;

use rtdw_proto::v1::cluster_service_client::ClusterServiceClient;
use rtdw_proto::v1::{HeartbeatRequest, RegisterTaskManagerRequest};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// What this task manager registers as.
pub(crate) struct Registration {
    pub id: String,
    pub control_addr: String,
    pub data_addr: String,
    pub slots: u32,
    pub host: String,
    pub http_addr: String,
}

/// Retry pause while the coordinator cannot be reached.
const RETRY: Duration = Duration::from_secs(1);

async fn register(
    client: &mut ClusterServiceClient<Channel>,
    me: &Registration,
    stop: &CancellationToken,
) -> Option<Duration> {
    let request = RegisterTaskManagerRequest {
        taskmanager_id: me.id.clone(),
        control_addr: me.control_addr.clone(),
        data_addr: me.data_addr.clone(),
        slots: me.slots,
        host: me.host.clone(),
        http_addr: me.http_addr.clone(),
    };
    loop {
        let span = tracing::info_span!("register", taskmanager = %me.id);
        let call = span.in_scope(|| traced_request(request.clone()));
        match client.register_task_manager(call).instrument(span).await {
            Ok(response) => {
                tracing::info!(taskmanager = %me.id, "registered with the coordinator");
                return Some(Duration::from_millis(
                    response.into_inner().heartbeat_interval_ms.max(100),
                ));
            }
            Err(status) => {
                tracing::warn!(taskmanager = %me.id, %status, "cannot register with the coordinator; retrying")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return None,
            _ = tokio::time::sleep(RETRY) => {}
        }
    }
}

/// Registers, then heartbeats until `stop` fires. The task manager is
/// ready (`/readyz`) while the coordinator knows it.
pub(crate) async fn keep_registered(
    mut client: ClusterServiceClient<Channel>,
    me: Registration,
    observability: Arc<Observability>,
    stop: CancellationToken,
) {
    let Some(mut interval) = register(&mut client, &me, &stop).await else {
        return;
    };
    observability.set_ready(true);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let beat = client
            .heartbeat(HeartbeatRequest {
                taskmanager_id: me.id.clone(),
            })
            .await;
        match beat {
            Ok(response) if response.get_ref().known => {}
            Ok(_) => {
                tracing::warn!(taskmanager = %me.id, "the coordinator does not know this task manager; registering again");
                observability.set_ready(false);
                match register(&mut client, &me, &stop).await {
                    Some(next) => interval = next,
                    None => return,
                }
                observability.set_ready(true);
            }
            Err(status) => tracing::warn!(taskmanager = %me.id, %status, "heartbeat failed"),
        }
    }
}
