//! The task manager's table of channel queues.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rtdw_operators::Element;
use tokio::sync::{Notify, mpsc};

/// Identifies one channel of one job.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelKey {
    /// The job.
    pub job_id: String,
    /// The job's deployment attempt.
    pub attempt: u32,
    /// The job graph edge.
    pub edge_id: u32,
    /// The upstream subtask.
    pub source_subtask: u32,
    /// The downstream subtask.
    pub target_subtask: u32,
}

/// Sending ends of the channels whose receivers live on this task manager,
/// waiting to be claimed by their upstream subtask (local or remote).
#[derive(Default)]
pub struct ChannelRegistry {
    senders: Mutex<HashMap<ChannelKey, mpsc::Sender<Element>>>,
    registered: Notify,
}

impl ChannelRegistry {
    /// Offers a channel's sending end.
    pub fn register(&self, key: ChannelKey, sender: mpsc::Sender<Element>) {
        self.lock().insert(key, sender);
        self.registered.notify_waiters();
    }

    /// Claims a channel's sending end, waiting up to `timeout` for its
    /// downstream subtask to be deployed.
    pub async fn claim(
        &self,
        key: &ChannelKey,
        timeout: Duration,
    ) -> Option<mpsc::Sender<Element>> {
        let wait = async {
            loop {
                let notified = self.registered.notified();
                if let Some(sender) = self.lock().remove(key) {
                    return sender;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }

    /// Drops every unclaimed channel of a job (cancellation).
    pub fn remove_job(&self, job_id: &str) {
        self.lock().retain(|k, _| k.job_id != job_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ChannelKey, mpsc::Sender<Element>>> {
        self.senders
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
