//! Cluster membership: registered task managers, their slots and liveness.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rtdw_proto::v1::task_service_client::TaskServiceClient;
use rtdw_proto::v1::{RegisterTaskManagerRequest, TaskManagerDetails, TaskManagerState};
use tonic::transport::{Channel, Endpoint};

use crate::scheduler::SlotOffer;
use rtdw_operators::time::now_millis;

/// One registered task manager.
pub struct TaskManagerEntry {
    /// gRPC URL of its TaskService.
    pub control_addr: String,
    /// Its Arrow Flight URL.
    pub data_addr: String,
    /// Its HTTP endpoint (metrics, health).
    pub http_addr: String,
    /// Its host.
    pub host: String,
    /// Slots it offers.
    pub slots: u32,
    /// Slots taken by jobs.
    pub used: u32,
    /// Alive or lost.
    pub state: TaskManagerState,
    /// When it last heartbeated.
    pub last_heartbeat: Instant,
    /// The same, as wall-clock milliseconds, for display.
    pub last_heartbeat_ms: i64,
    /// Client of its TaskService.
    pub client: TaskServiceClient<Channel>,
    /// Distinguishes this registration from earlier ones under the same id.
    pub generation: u64,
}

/// All task managers, by id.
#[derive(Default)]
pub struct Cluster {
    taskmanagers: BTreeMap<String, TaskManagerEntry>,
    registrations: u64,
}

impl Cluster {
    /// Registers (or re-registers) a task manager.
    /// Returns the registration's generation.
    pub fn register(&mut self, request: &RegisterTaskManagerRequest) -> Result<u64, String> {
        let control_addr = &request.control_addr;
        let channel = Endpoint::from_shared(control_addr.clone())
            .map_err(|e| format!("invalid control address '{control_addr}': {e}"))?
            .connect_lazy();
        self.registrations += 1;
        self.taskmanagers.insert(
            request.taskmanager_id.clone(),
            TaskManagerEntry {
                control_addr: control_addr.clone(),
                data_addr: request.data_addr.clone(),
                http_addr: request.http_addr.clone(),
                host: request.host.clone(),
                slots: request.slots,
                used: 0,
                state: TaskManagerState::Alive,
                last_heartbeat: Instant::now(),
                last_heartbeat_ms: now_millis(),
                client: TaskServiceClient::new(channel),
                generation: self.registrations,
            },
        );
        Ok(self.registrations)
    }

    /// Marks registration `generation` of a task manager lost (its
    /// connection broke); false when it was already lost or replaced.
    pub fn mark_lost(&mut self, id: &str, generation: u64) -> bool {
        match self.taskmanagers.get_mut(id) {
            Some(tm) if tm.generation == generation && tm.state == TaskManagerState::Alive => {
                tm.state = TaskManagerState::Lost;
                tm.used = 0;
                true
            }
            _ => false,
        }
    }

    /// Records a heartbeat; false when the task manager is unknown or was
    /// declared lost (it must register again).
    pub fn heartbeat(&mut self, id: &str) -> bool {
        match self.taskmanagers.get_mut(id) {
            Some(tm) if tm.state == TaskManagerState::Alive => {
                tm.last_heartbeat = Instant::now();
                tm.last_heartbeat_ms = now_millis();
                true
            }
            _ => false,
        }
    }

    /// Marks task managers silent for longer than `timeout` as lost and
    /// returns their ids.
    pub fn expire(&mut self, timeout: Duration) -> Vec<String> {
        let mut lost = Vec::new();
        for (id, tm) in &mut self.taskmanagers {
            if tm.state == TaskManagerState::Alive && tm.last_heartbeat.elapsed() > timeout {
                tm.state = TaskManagerState::Lost;
                tm.used = 0;
                lost.push(id.clone());
            }
        }
        lost
    }

    /// Free slots of every live task manager.
    pub fn offers(&self) -> Vec<SlotOffer> {
        self.taskmanagers
            .iter()
            .filter(|(_, tm)| tm.state == TaskManagerState::Alive)
            .map(|(id, tm)| SlotOffer {
                taskmanager_id: id.clone(),
                free: tm.slots.saturating_sub(tm.used),
            })
            .collect()
    }

    /// Takes or gives back `delta` slots of a task manager.
    pub fn adjust_used(&mut self, id: &str, delta: i64) {
        if let Some(tm) = self.taskmanagers.get_mut(id) {
            tm.used = (i64::from(tm.used) + delta).clamp(0, i64::from(tm.slots)) as u32;
        }
    }

    /// A task manager by id.
    pub fn get(&self, id: &str) -> Option<&TaskManagerEntry> {
        self.taskmanagers.get(id)
    }

    /// Live task managers.
    pub fn alive_count(&self) -> usize {
        self.taskmanagers
            .values()
            .filter(|tm| tm.state == TaskManagerState::Alive)
            .count()
    }

    /// Slots of live task managers.
    pub fn alive_slots(&self) -> u64 {
        self.taskmanagers
            .values()
            .filter(|tm| tm.state == TaskManagerState::Alive)
            .map(|tm| u64::from(tm.slots))
            .sum()
    }

    /// Every task manager, for listing.
    pub fn details(&self) -> Vec<TaskManagerDetails> {
        self.taskmanagers
            .iter()
            .map(|(id, tm)| TaskManagerDetails {
                taskmanager_id: id.clone(),
                control_addr: tm.control_addr.clone(),
                data_addr: tm.data_addr.clone(),
                http_addr: tm.http_addr.clone(),
                host: tm.host.clone(),
                slots: tm.slots,
                free_slots: if tm.state == TaskManagerState::Alive {
                    tm.slots.saturating_sub(tm.used)
                } else {
                    0
                },
                state: tm.state as i32,
                last_heartbeat_ms: tm.last_heartbeat_ms,
            })
            .collect()
    }
}
