//! The checkpoint coordinator's bookkeeping for one job, without I/O: which
//! checkpoint is in flight, who acknowledged it, when it may complete, what
//! retention drops, and the history users list.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use rtdw_proto::v1::{
    CheckpointInfo, CheckpointManifest, CheckpointStatus, SubtaskAck, SubtaskState,
};

use crate::settings::CheckpointSettings;

/// Checkpoints kept in the listed history.
const HISTORY: usize = 100;

/// A subtask, by vertex and index.
pub type TaskKey = (u32, u32);

/// What a checkpoint is taken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointKind {
    /// A periodic checkpoint.
    Checkpoint,
    /// A user's savepoint.
    Savepoint,
    /// The snapshot of a job whose every input ended.
    Final,
}

impl CheckpointKind {
    /// `CHECKPOINT`, `SAVEPOINT` or `FINAL`.
    pub fn name(self) -> &'static str {
        match self {
            CheckpointKind::Checkpoint => "CHECKPOINT",
            CheckpointKind::Savepoint => "SAVEPOINT",
            CheckpointKind::Final => "FINAL",
        }
    }
}

/// A completed checkpoint that restores can use.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedCheckpoint {
    /// Its id.
    pub id: u64,
    /// Its directory (storage URL); the manifest is `_metadata` in it.
    pub location: String,
}

struct InFlight {
    id: u64,
    kind: CheckpointKind,
    location: String,
    trigger_time_ms: i64,
    expected: BTreeSet<TaskKey>,
    acks: BTreeMap<TaskKey, SubtaskState>,
    /// Every acknowledgement arrived; the manifest is being written.
    completing: bool,
}

/// One job's checkpoints.
pub struct CheckpointTracker {
    /// The job's checkpoint settings.
    pub settings: CheckpointSettings,
    job_id: String,
    max_parallelism: u32,
    next_id: u64,
    in_flight: Option<InFlight>,
    history: VecDeque<CheckpointInfo>,
    completed: VecDeque<CompletedCheckpoint>,
    savepoints: VecDeque<CompletedCheckpoint>,
    /// The savepoint the job was submitted from, until newer state exists.
    restore_base: Option<CompletedCheckpoint>,
    consecutive_failures: u32,
    last_finished: Option<Instant>,
    /// The final checkpoint completed: the job takes no more checkpoints.
    final_done: bool,
    /// A restore point existed at some time (a restart without one would
    /// start over and duplicate committed output).
    ever_restorable: bool,
    /// For metrics: totals since submission, and the newest completion.
    totals: CheckpointTotals,
    end_states: BTreeMap<TaskKey, SubtaskState>,
}

/// A job's checkpoint counts and newest completion, for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckpointTotals {
    /// Checkpoints (and savepoints) completed.
    pub completed: u64,
    /// Checkpoints failed or aborted.
    pub failed: u64,
    /// When the newest completed.
    pub last_completed: Option<Instant>,
    /// How long the newest took.
    pub last_duration: Duration,
    /// Its state size.
    pub last_size_bytes: u64,
}

/// What an acknowledgement leads to.
#[derive(Debug)]
pub enum AckOutcome {
    /// Nothing yet.
    Waiting,
    /// Every subtask acknowledged: write this manifest at this location.
    Complete(CheckpointManifest, String),
}

impl CheckpointTracker {
    /// A tracker for a job whose checkpoint ids continue after `last_id`.
    pub fn new(
        job_id: &str,
        settings: CheckpointSettings,
        max_parallelism: u32,
        last_id: u64,
    ) -> Self {
        CheckpointTracker {
            settings,
            job_id: job_id.to_string(),
            max_parallelism,
            next_id: last_id + 1,
            in_flight: None,
            history: VecDeque::new(),
            completed: VecDeque::new(),
            savepoints: VecDeque::new(),
            restore_base: None,
            consecutive_failures: 0,
            last_finished: None,
            final_done: false,
            ever_restorable: false,
            totals: CheckpointTotals::default(),
            end_states: BTreeMap::new(),
        }
    }

    /// True when checkpoints are on.
    pub fn enabled(&self) -> bool {
        self.settings.enabled()
    }

    /// True when a periodic checkpoint may start now: none in flight, the
    /// minimum pause since the last one passed, and no input ended yet.
    pub fn may_trigger(&self, now: Instant) -> bool {
        self.enabled()
            && self.in_flight.is_none()
            && !self.final_done
            && self
                .last_finished
                .is_none_or(|t| now.duration_since(t) >= self.settings.min_pause)
    }

    /// The directory of checkpoint `id`.
    fn location(&self, id: u64) -> String {
        format!("{}/{}/chk-{id}", self.settings.dir, self.job_id)
    }

    /// Starts checkpoint n expecting acknowledgements from `expected`;
    /// returns its id and directory. Subtasks whose input already ended
    /// take part with their end-of-input state, as Flink's checkpoints
    /// after tasks finished do: a job whose bounded dimension source
    /// finished keeps checkpointing. (The caller does not trigger when
    /// every subtask ended: the final checkpoint is due then.)
    pub fn trigger(&mut self, expected: BTreeSet<TaskKey>, now_ms: i64) -> (u64, String) {
        let id = self.next_id;
        self.next_id += 1;
        let location = self.location(id);
        let ended: Vec<SubtaskState> = expected
            .iter()
            .filter_map(|key| self.end_states.get(key).cloned())
            .collect();
        self.start(
            id,
            CheckpointKind::Checkpoint,
            location.clone(),
            expected,
            now_ms,
        );
        for state in ended {
            self.acknowledge(id, state, now_ms);
        }
        (id, location)
    }

    fn start(
        &mut self,
        id: u64,
        kind: CheckpointKind,
        location: String,
        expected: BTreeSet<TaskKey>,
        now_ms: i64,
    ) {
        self.history.push_back(CheckpointInfo {
            id,
            kind: kind.name().into(),
            status: CheckpointStatus::InProgress as i32,
            trigger_time_ms: now_ms,
            location: location.clone(),
            acks: expected
                .iter()
                .map(|&(vertex_id, subtask)| SubtaskAck {
                    vertex_id,
                    subtask,
                    ..SubtaskAck::default()
                })
                .collect(),
            ..CheckpointInfo::default()
        });
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        self.in_flight = Some(InFlight {
            id,
            kind,
            location,
            trigger_time_ms: now_ms,
            expected,
            acks: BTreeMap::new(),
            completing: false,
        });
    }

    /// True when a savepoint (or stop) may start now: none in flight and
    /// no input ended yet.
    pub fn may_trigger_savepoint(&self) -> bool {
        self.in_flight.is_none() && self.end_states.is_empty() && !self.final_done
    }

    /// Starts savepoint n in `dir` expecting acknowledgements from
    /// `expected`; returns its id and directory.
    pub fn trigger_savepoint(
        &mut self,
        dir: &str,
        expected: BTreeSet<TaskKey>,
        now_ms: i64,
    ) -> (u64, String) {
        let id = self.next_id;
        self.next_id += 1;
        let short_job = &self.job_id[..self.job_id.len().min(6)];
        let location = format!("{}/savepoint-{short_job}-{id}", dir.trim_end_matches('/'));
        self.start(
            id,
            CheckpointKind::Savepoint,
            location.clone(),
            expected,
            now_ms,
        );
        (id, location)
    }

    /// Starts from a savepoint: it is the restore point until the job takes
    /// newer checkpoints, and ids continue after its.
    pub fn restore_from(&mut self, savepoint: CompletedCheckpoint) {
        self.next_id = self.next_id.max(savepoint.id + 1);
        self.restore_base = Some(savepoint);
        self.ever_restorable = true;
    }

    /// The status and failure of checkpoint `id`, if still in the history.
    pub fn status(&self, id: u64) -> Option<(CheckpointStatus, String)> {
        self.history.iter().rev().find(|c| c.id == id).map(|c| {
            (
                CheckpointStatus::try_from(c.status).unwrap_or(CheckpointStatus::Unspecified),
                c.failure.clone(),
            )
        })
    }

    /// The retained savepoints, newest first.
    pub fn savepoints(&self) -> Vec<CompletedCheckpoint> {
        self.savepoints.iter().rev().cloned().collect()
    }

    /// The checkpoint in flight, if any.
    pub fn in_flight(&self) -> Option<u64> {
        self.in_flight.as_ref().map(|f| f.id)
    }

    fn info(&mut self, id: u64) -> Option<&mut CheckpointInfo> {
        self.history.iter_mut().rev().find(|c| c.id == id)
    }

    /// Records a subtask's acknowledgement of checkpoint `id`.
    pub fn acknowledge(&mut self, id: u64, state: SubtaskState, now_ms: i64) -> AckOutcome {
        let key = (state.vertex_id, state.subtask);
        let size: u64 = state.keyed.iter().map(|h| h.size_bytes).sum();
        let Some(flight) = self
            .in_flight
            .as_mut()
            .filter(|f| f.id == id && !f.completing)
        else {
            return AckOutcome::Waiting;
        };
        if !flight.expected.contains(&key) {
            return AckOutcome::Waiting;
        }
        flight.acks.insert(key, state);
        let done = flight.acks.len() == flight.expected.len();
        if let Some(info) = self.info(id) {
            if let Some(ack) = info
                .acks
                .iter_mut()
                .find(|a| (a.vertex_id, a.subtask) == key)
            {
                ack.ack_time_ms = now_ms;
                ack.size_bytes = size;
            }
            info.size_bytes += size;
        }
        if !done {
            return AckOutcome::Waiting;
        }
        let Some(flight) = self.in_flight.as_mut() else {
            return AckOutcome::Waiting;
        };
        flight.completing = true;
        let manifest = CheckpointManifest {
            job_id: self.job_id.clone(),
            checkpoint_id: id,
            kind: flight.kind.name().into(),
            trigger_time_ms: flight.trigger_time_ms,
            complete_time_ms: now_ms,
            max_parallelism: self.max_parallelism,
            subtasks: flight.acks.values().cloned().collect(),
        };
        AckOutcome::Complete(manifest, flight.location.clone())
    }

    /// Records that a subtask's input ended, with its final state. A
    /// checkpoint in flight that the subtask did not take part in (newer
    /// than `last_checkpoint`, the newest it did) takes the end state as
    /// its acknowledgement: everything the subtask emitted precedes that
    /// checkpoint's barriers downstream. Returns that checkpoint when this
    /// completes it, else the job's final checkpoint once every subtask's
    /// input ended. Reporting the same end again changes nothing.
    pub fn end_of_input(
        &mut self,
        state: SubtaskState,
        last_checkpoint: u64,
        all: &BTreeSet<TaskKey>,
        now_ms: i64,
    ) -> AckOutcome {
        let key = (state.vertex_id, state.subtask);
        self.end_states.insert(key, state.clone());
        if let Some(flight) = &self.in_flight
            && !flight.completing
            && flight.id > last_checkpoint
            && !flight.acks.contains_key(&key)
        {
            let id = flight.id;
            let outcome = self.acknowledge(id, state, now_ms);
            if !matches!(outcome, AckOutcome::Waiting) {
                return outcome;
            }
        }
        self.start_final(all, now_ms)
    }

    /// True when every subtask's input ended and the final checkpoint can
    /// be started (none is in flight).
    pub fn final_due(&self, all: &BTreeSet<TaskKey>) -> bool {
        self.in_flight.is_none()
            && !self.final_done
            && !all.is_empty()
            && all.iter().all(|k| self.end_states.contains_key(k))
    }

    /// Starts and completes the final checkpoint from the end-of-input
    /// states when it is due (see [`Self::final_due`]).
    pub fn start_final(&mut self, all: &BTreeSet<TaskKey>, now_ms: i64) -> AckOutcome {
        if !self.final_due(all) {
            return AckOutcome::Waiting;
        }
        let id = self.next_id;
        self.next_id += 1;
        let location = self.location(id);
        self.start(id, CheckpointKind::Final, location, all.clone(), now_ms);
        let mut outcome = AckOutcome::Waiting;
        for state in self.end_states.values().cloned().collect::<Vec<_>>() {
            outcome = self.acknowledge(id, state, now_ms);
        }
        outcome
    }

    /// Checkpoint `id`'s manifest and pointer are written: it is the newest
    /// restore point. Returns the completed checkpoints retention drops
    /// (their files are to be deleted).
    pub fn completed(&mut self, id: u64, now: Instant, now_ms: i64) -> Vec<CompletedCheckpoint> {
        let Some(flight) = self.in_flight.take_if(|f| f.id == id) else {
            return Vec::new();
        };
        self.last_finished = Some(now);
        self.consecutive_failures = 0;
        self.ever_restorable = true;
        if flight.kind == CheckpointKind::Final {
            // Taken once: the job only finishes from here.
            self.final_done = true;
        }
        let (mut duration_ms, mut size_bytes) = (0, 0);
        if let Some(info) = self.info(id) {
            info.status = CheckpointStatus::Completed as i32;
            info.duration_ms = now_ms - info.trigger_time_ms;
            (duration_ms, size_bytes) = (info.duration_ms, info.size_bytes);
        }
        self.totals.completed += 1;
        self.totals.last_completed = Some(now);
        self.totals.last_duration = Duration::from_millis(duration_ms.max(0) as u64);
        self.totals.last_size_bytes = size_bytes;
        let checkpoint = CompletedCheckpoint {
            id,
            location: flight.location,
        };
        let (list, retained) = match flight.kind {
            CheckpointKind::Savepoint => (&mut self.savepoints, self.settings.savepoints_retained),
            _ => (&mut self.completed, self.settings.retained),
        };
        list.push_back(checkpoint);
        let mut dropped = Vec::new();
        while list.len() > retained as usize {
            dropped.extend(list.pop_front());
        }
        dropped
    }

    /// Aborts checkpoint `id` (timeout, decline, failed write) without
    /// counting it against the tolerable failures. Returns its directory.
    pub fn abort(&mut self, id: u64, reason: String, now_ms: i64) -> Option<String> {
        let flight = self.in_flight.take_if(|f| f.id == id)?;
        self.last_finished = Some(Instant::now());
        self.totals.failed += 1;
        if let Some(info) = self.info(id) {
            info.status = CheckpointStatus::Failed as i32;
            info.duration_ms = now_ms - info.trigger_time_ms;
            info.failure = reason;
        }
        Some(flight.location)
    }

    /// Fails checkpoint `id` and counts it. Returns its directory and
    /// whether the job now exceeded its tolerable failed checkpoints.
    pub fn fail(&mut self, id: u64, reason: String, now_ms: i64) -> Option<(String, bool)> {
        let location = self.abort(id, reason, now_ms)?;
        self.consecutive_failures += 1;
        Some((
            location,
            self.consecutive_failures > self.settings.tolerable_failures,
        ))
    }

    /// Records a subtask's decline in the history.
    pub fn note_decline(&mut self, id: u64, key: TaskKey, reason: &str) {
        if let Some(ack) = self.info(id).and_then(|info| {
            info.acks
                .iter_mut()
                .find(|a| (a.vertex_id, a.subtask) == key)
        }) {
            ack.failure = reason.to_string();
        }
    }

    /// The job is restarting: what was in flight is void, and every input
    /// runs again.
    ///
    /// A checkpoint whose manifest is being written completes anyway: every
    /// subtask acknowledged it. Returns the directory of one aborted.
    pub fn restart(&mut self, now_ms: i64) -> Option<String> {
        self.end_states.clear();
        self.final_done = false;
        let id = self.in_flight.as_ref().filter(|f| !f.completing)?.id;
        self.abort(id, "the job failed over".into(), now_ms)
    }

    /// True while checkpoint `id` is in flight (not aborted, not completed).
    pub fn is_in_flight(&self, id: u64) -> bool {
        self.in_flight() == Some(id)
    }

    /// True when the job had a restore point at some time: restarting it
    /// with none left must not start it over.
    pub fn ever_restorable(&self) -> bool {
        self.ever_restorable
    }

    /// The newest restore point.
    pub fn latest(&self) -> Option<CompletedCheckpoint> {
        self.retained().into_iter().next()
    }

    /// The restore points, newest first: retained checkpoints, savepoints,
    /// and the savepoint the job started from.
    pub fn retained(&self) -> Vec<CompletedCheckpoint> {
        let mut all: Vec<CompletedCheckpoint> = self
            .completed
            .iter()
            .chain(&self.savepoints)
            .chain(&self.restore_base)
            .cloned()
            .collect();
        all.sort_by_key(|c| std::cmp::Reverse(c.id));
        all
    }

    /// Forgets a restore point that cannot be restored or was disposed.
    pub fn discard(&mut self, location: &str) {
        self.completed.retain(|c| c.location != location);
        self.savepoints.retain(|c| c.location != location);
        self.restore_base.take_if(|c| c.location == location);
    }

    /// Adopts a checkpoint completed before this tracker existed (the
    /// coordinator restarted), as the newest restore point.
    pub fn adopt(&mut self, checkpoint: CompletedCheckpoint) {
        self.next_id = self.next_id.max(checkpoint.id + 1);
        self.ever_restorable = true;
        self.completed.push_back(checkpoint);
    }

    /// Age of the in-flight checkpoint, for the timeout.
    /// A checkpoint whose manifest is being written does not expire.
    pub fn in_flight_since(&self, now_ms: i64) -> Option<(u64, Duration)> {
        self.in_flight.as_ref().filter(|f| !f.completing).map(|f| {
            (
                f.id,
                Duration::from_millis((now_ms - f.trigger_time_ms).max(0) as u64),
            )
        })
    }

    /// The history, newest first.
    pub fn history(&self) -> Vec<CheckpointInfo> {
        self.history.iter().rev().cloned().collect()
    }

    /// Counts and the newest completion, for metrics.
    pub fn totals(&self) -> CheckpointTotals {
        self.totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(retained: u32, tolerable: u32) -> CheckpointSettings {
        CheckpointSettings {
            interval: Some(Duration::from_secs(1)),
            timeout: Duration::from_secs(10),
            min_pause: Duration::ZERO,
            tolerable_failures: tolerable,
            dir: "file:///chk".into(),
            retained,
            savepoints_dir: None,
            savepoints_retained: 3,
        }
    }

    fn state(vertex_id: u32, subtask: u32) -> SubtaskState {
        SubtaskState {
            vertex_id,
            subtask,
            parallelism: 2,
            ..SubtaskState::default()
        }
    }

    fn tasks() -> BTreeSet<TaskKey> {
        [(0, 0), (0, 1)].into()
    }

    #[test]
    fn a_checkpoint_completes_when_every_subtask_acknowledged() {
        let mut tracker = CheckpointTracker::new("job", settings(1, 0), 128, 0);
        let (id, location) = tracker.trigger(tasks(), 1000);
        assert_eq!((id, location.as_str()), (1, "file:///chk/job/chk-1"));
        assert!(!tracker.may_trigger(Instant::now()), "one at a time");
        assert!(matches!(
            tracker.acknowledge(id, state(0, 0), 1100),
            AckOutcome::Waiting
        ));
        assert!(
            matches!(
                tracker.acknowledge(id, state(0, 0), 1100),
                AckOutcome::Waiting
            ),
            "a duplicate counts once"
        );
        let AckOutcome::Complete(manifest, at) = tracker.acknowledge(id, state(0, 1), 1200) else {
            panic!("all acknowledged");
        };
        assert_eq!(
            (manifest.checkpoint_id, manifest.subtasks.len(), at),
            (1, 2, location)
        );
        assert!(tracker.completed(id, Instant::now(), 1300).is_empty());
        assert_eq!(tracker.latest().map(|c| c.id), Some(1));
        assert_eq!(tracker.history()[0].duration_ms, 300);
    }

    #[test]
    fn retention_drops_the_oldest_beyond_the_count() {
        let mut tracker = CheckpointTracker::new("job", settings(2, 0), 128, 0);
        let mut dropped = Vec::new();
        for _ in 0..3 {
            let (id, _) = tracker.trigger(tasks(), 0);
            tracker.acknowledge(id, state(0, 0), 0);
            tracker.acknowledge(id, state(0, 1), 0);
            dropped.extend(tracker.completed(id, Instant::now(), 0));
        }
        assert_eq!(dropped.iter().map(|c| c.id).collect::<Vec<_>>(), [1]);
        assert_eq!(
            tracker.retained().iter().map(|c| c.id).collect::<Vec<_>>(),
            [3, 2]
        );
    }

    #[test]
    fn savepoints_have_their_own_directory_and_retention_and_serve_as_restore_points() {
        let mut tracker = CheckpointTracker::new("abcdef123", settings(1, 0), 128, 0);
        let mut dropped = Vec::new();
        for _ in 0..4 {
            let (id, location) = tracker.trigger_savepoint("s3://b/sp/", tasks(), 0);
            assert_eq!(location, format!("s3://b/sp/savepoint-abcdef-{id}"));
            tracker.acknowledge(id, state(0, 0), 0);
            tracker.acknowledge(id, state(0, 1), 0);
            dropped.extend(tracker.completed(id, Instant::now(), 0));
        }
        assert_eq!(
            dropped.iter().map(|c| c.id).collect::<Vec<_>>(),
            [1],
            "three are kept"
        );
        let (id, _) = tracker.trigger(tasks(), 0);
        tracker.acknowledge(id, state(0, 0), 0);
        tracker.acknowledge(id, state(0, 1), 0);
        assert!(
            tracker.completed(id, Instant::now(), 0).is_empty(),
            "checkpoints keep their own count"
        );
        let restore_points: Vec<u64> = tracker.retained().iter().map(|c| c.id).collect();
        assert_eq!(restore_points, [5, 4, 3, 2]);
        assert_eq!(tracker.savepoints().len(), 3);
    }

    #[test]
    fn failures_beyond_the_tolerable_count_fail_the_job() {
        let mut tracker = CheckpointTracker::new("job", settings(1, 1), 128, 0);
        let (id, _) = tracker.trigger(tasks(), 0);
        assert_eq!(
            tracker.fail(id, "timeout".into(), 10).map(|f| f.1),
            Some(false)
        );
        let (id, _) = tracker.trigger(tasks(), 0);
        assert_eq!(
            tracker.fail(id, "timeout".into(), 10).map(|f| f.1),
            Some(true)
        );
        assert_eq!(tracker.history()[0].failure, "timeout");
        assert!(
            tracker.acknowledge(id, state(0, 0), 20).is_waiting(),
            "late acks are ignored"
        );
    }

    #[test]
    fn the_final_checkpoint_follows_the_end_of_every_input() {
        let mut tracker = CheckpointTracker::new("job", settings(1, 0), 128, 4);
        let (id, _) = tracker.trigger(tasks(), 0);
        tracker.acknowledge(id, state(0, 0), 0);
        assert!(
            tracker
                .end_of_input(state(0, 0), 5, &tasks(), 1)
                .is_waiting()
        );
        assert_eq!(
            tracker.in_flight(),
            Some(5),
            "subtask 0 acknowledged before it ended"
        );
        // Subtask 1 ended before checkpoint 5's barrier reached it: its end
        // state completes 5, and the final checkpoint follows.
        let AckOutcome::Complete(manifest, _) = tracker.end_of_input(state(0, 1), 4, &tasks(), 2)
        else {
            panic!("the end state completes checkpoint 5");
        };
        assert_eq!(manifest.checkpoint_id, 5);
        tracker.completed(5, Instant::now(), 2);
        let AckOutcome::Complete(manifest, _) = tracker.start_final(&tasks(), 3) else {
            panic!("the final checkpoint follows the last end of input");
        };
        assert_eq!(
            (manifest.checkpoint_id, manifest.kind.as_str()),
            (6, "FINAL")
        );
        tracker.completed(6, Instant::now(), 3);
        assert!(
            !tracker.final_due(&tasks()),
            "the final checkpoint is taken once"
        );
        assert!(
            !tracker.may_trigger(Instant::now()),
            "nor any other after it"
        );
        assert_eq!(tracker.totals().completed, 2);
        assert_eq!(tracker.totals().failed, 0);
    }

    #[test]
    fn checkpoints_continue_after_a_subtask_finished_with_its_end_state() {
        let mut tracker = CheckpointTracker::new("job", settings(1, 0), 128, 0);
        let ended = state(0, 1);
        assert!(
            tracker
                .end_of_input(ended.clone(), 0, &tasks(), 1)
                .is_waiting()
        );
        assert!(tracker.may_trigger(Instant::now()), "the other still runs");
        let (id, _) = tracker.trigger(tasks(), 2);
        let AckOutcome::Complete(manifest, _) = tracker.acknowledge(id, state(0, 0), 3) else {
            panic!("the finished subtask's end state stands in for its ack");
        };
        assert!(manifest.subtasks.contains(&ended));
        assert_eq!(manifest.subtasks.len(), 2);
        assert!(
            !tracker.may_trigger_savepoint(),
            "savepoints still need every subtask running"
        );
    }

    impl AckOutcome {
        fn is_waiting(&self) -> bool {
            matches!(self, AckOutcome::Waiting)
        }
    }
}
