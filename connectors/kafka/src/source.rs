//! The `kafka` source, split-based (Flink's `KafkaSource`): each topic
//! partition is a split, assigned to a subtask by the coordinator. A split's
//! state is the offset of the next record to read and, for a bounded source,
//! the offset it ends at, both fixed when the split is first read and kept in
//! every checkpoint, so a restored (or reassigned) partition continues at
//! exactly the next record and ends where it would have.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use rtdw_connector_core::format::MALFORMED;
use rtdw_connector_core::options::TableOptions;
use rtdw_connector_core::split::{decode_splits, encode_splits};
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::{ErrorClass, Result, Source, SourceSplit, SplitView, StreamError};
use tokio::time::Instant;

use crate::client::{REQUEST_TIMEOUT, client, kafka_error};
use crate::decoding::RecordDecoding;
use crate::options::{GROUP_ID, OffsetSpec, client_properties};
use crate::record::Record;

/// Records decoded into one batch at most.
const RECORDS_PER_BATCH: usize = 8192;

/// How long one call waits for records before it returns what it has (an
/// empty batch when nothing came), so checkpoints and new splits get
/// through.
const POLL_WAIT: Duration = Duration::from_millis(100);

/// Consumer settings every `kafka` source has unless its table sets them.
/// librdkafka stops fetching a partition once `queued.min.messages`
/// (100 000) records wait in its queue and, by default, fetches again only
/// a second later: a source that drains the queue faster idles for most of
/// that second (reading 130 000 records/s where it could read 700 000).
const CONSUMER_DEFAULTS: &[(&str, &str)] = &[("fetch.queue.backoff.ms", "10")];

/// A partition: the split id is `topic:partition` (topic names cannot hold
/// a `:`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PartitionId {
    /// Shared with the records of the topic, so finding a record's
    /// partition allocates nothing.
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
}

impl PartitionId {
    /// The split id.
    pub(crate) fn split_id(&self) -> String {
        format!("{}:{}", self.topic, self.partition)
    }

    fn parse(id: &str) -> Result<Self> {
        id.rsplit_once(':')
            .and_then(|(topic, partition)| {
                Some(PartitionId {
                    topic: topic.into(),
                    partition: partition.parse().ok()?,
                })
            })
            .ok_or_else(|| StreamError::Failed(format!("'{id}' is not a Kafka partition split")))
    }
}

/// A split's state: where reading continues, and where it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct PartitionState {
    /// The offset of the next record to read.
    offset: i64,
    /// The offset the partition ends at (exclusive), for a bounded source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stop: Option<i64>,
}

impl PartitionState {
    fn finished(&self) -> bool {
        self.stop.is_some_and(|stop| self.offset >= stop)
    }
}

/// A batch of one partition's records, decoded and not yet returned.
struct Decoded {
    partition: PartitionId,
    /// The offset of its first record: until the batch is returned, the
    /// partition's position in a checkpoint.
    first_offset: i64,
    batch: RecordBatch,
}

/// One subtask of a `kafka` source.
pub(crate) struct KafkaSource {
    table: TableDescriptor,
    consumer: Arc<StreamConsumer>,
    decoding: RecordDecoding,
    startup: OffsetSpec,
    bound: Option<OffsetSpec>,
    /// Assigned partitions and how far each is read.
    partitions: BTreeMap<PartitionId, PartitionState>,
    /// The split ids of the partitions not finished.
    reading: Vec<String>,
    /// Batches decoded from the last poll and not yet returned, each of
    /// one partition (at most one a partition).
    ready: VecDeque<Decoded>,
    /// The split id of the last batch returned.
    last_split: Option<String>,
    /// Splits handed over but not yet assigned to the consumer.
    pending: Vec<SourceSplit>,
    /// Splits finished before they reached this subtask, kept so the
    /// coordinator does not hand them out again.
    finished: Vec<SourceSplit>,
    /// A batch was returned: splits that come later are partitions added
    /// while running, read from their earliest offset (as Flink does).
    started: bool,
    /// Topic names shared by the records of a topic.
    topic_names: HashMap<String, Arc<str>>,
    /// The table names a consumer group (`properties.group.id`): completed
    /// checkpoints commit their offsets to it.
    commits_to_group: bool,
}

impl KafkaSource {
    /// A subtask of job `job_id` reading the partitions it is given through
    /// `add_splits`, their records decoded by `decoding`.
    pub(crate) fn new(
        table: &TableDescriptor,
        job_id: &str,
        decoding: RecordDecoding,
        startup: OffsetSpec,
        bound: Option<OffsetSpec>,
    ) -> Result<Self, ConnectorError> {
        // librdkafka assigns partitions only to a consumer with a group; a
        // table without `properties.group.id` gets one of the job's own,
        // which never joins the group nor commits to it.
        let own_group = format!("rtdw-{job_id}-{}", table.name);
        let commits_to_group = TableOptions::new(table).string(&GROUP_ID).is_some();
        let group = match commits_to_group {
            true => Vec::new(),
            false => vec![("group.id", own_group.as_str())],
        };
        let settings = [
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "false"),
        ];
        let consumer: StreamConsumer = client(
            table,
            CONSUMER_DEFAULTS,
            &[&settings[..], &group[..]].concat(),
        )?;
        Ok(KafkaSource {
            table: table.clone(),
            consumer: Arc::new(consumer),
            decoding,
            startup,
            bound,
            partitions: BTreeMap::new(),
            reading: Vec::new(),
            ready: VecDeque::new(),
            last_split: None,
            pending: Vec::new(),
            finished: Vec::new(),
            started: false,
            topic_names: HashMap::new(),
            commits_to_group,
        })
    }

    fn error(&self, context: &str, error: rdkafka::error::KafkaError) -> StreamError {
        kafka_error(&self.table, context, error).into()
    }

    /// Resolves the positions of pending splits (a network round trip for
    /// a new split) and adds their partitions to the consumer.
    async fn assign_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let splits = std::mem::take(&mut self.pending);
        let startup = if self.started {
            OffsetSpec::Earliest
        } else {
            self.startup.clone()
        };
        let resolver = Resolver {
            table: self.table.clone(),
            consumer: self.consumer.clone(),
            startup,
            bound: self.bound.clone(),
        };
        let resolved = tokio::task::spawn_blocking(move || resolver.resolve_all(splits))
            .await
            .map_err(|e| StreamError::Failed(format!("resolving Kafka offsets: {e}")))??;
        for (partition, state) in resolved {
            if state.finished() {
                self.finished.push(SourceSplit {
                    id: partition.split_id(),
                    state: encode_state(&state)?,
                    finished: true,
                });
            } else {
                self.partitions.insert(partition, state);
            }
        }
        self.reassign()
    }

    /// Points the consumer at every unfinished partition, each at its next
    /// offset. (librdkafka's incremental assignment needs a consumer group,
    /// which a source without `properties.group.id` does not have.)
    fn reassign(&mut self) -> Result<()> {
        let mut assignment = TopicPartitionList::new();
        self.reading.clear();
        for (id, state) in self.partitions.iter().filter(|(_, s)| !s.finished()) {
            assignment
                .add_partition_offset(&id.topic, id.partition, Offset::Offset(state.offset))
                .map_err(|e| self.error("cannot assign a partition", e))?;
            self.reading.push(id.split_id());
        }
        self.consumer
            .assign(&assignment)
            .map_err(|e| self.error("cannot assign partitions", e))
    }

    /// Takes a consumed record if its partition still reads it; moves the
    /// partition on.
    fn accept(&mut self, record: &Record) -> Result<bool> {
        let id = PartitionId {
            topic: record.topic.clone(),
            partition: record.partition,
        };
        let Some(state) = self.partitions.get_mut(&id) else {
            return Ok(false);
        };
        if state.finished() || record.offset < state.offset {
            return Ok(false);
        }
        if state.stop.is_some_and(|stop| record.offset >= stop) {
            state.offset = state.stop.unwrap_or(record.offset);
            self.reassign()?;
            return Ok(false);
        }
        state.offset = record.offset + 1;
        if state.finished() {
            self.reassign()?;
        }
        Ok(true)
    }

    /// Finishes bounded partitions whose consumer position passed their end
    /// without a record at it (transaction markers and compacted records
    /// occupy offsets no consumer receives).
    fn finish_passed_partitions(&mut self) -> Result<()> {
        if self.bound.is_none() || self.partitions.values().all(PartitionState::finished) {
            return Ok(());
        }
        let positions = self
            .consumer
            .position()
            .map_err(|e| self.error("cannot read the consumer's positions", e))?;
        let mut passed = false;
        for element in positions.elements() {
            let id = PartitionId {
                topic: element.topic().into(),
                partition: element.partition(),
            };
            if let (Some(state), Offset::Offset(position)) =
                (self.partitions.get_mut(&id), element.offset())
                && !state.finished()
                && state.stop.is_some_and(|stop| position >= stop)
            {
                state.offset = state.offset.max(position);
                passed = true;
            }
        }
        if passed {
            self.reassign()?;
        }
        Ok(())
    }

    /// Records until [`RECORDS_PER_BATCH`] or [`POLL_WAIT`].
    async fn poll(&mut self) -> Result<Vec<Record>> {
        let deadline = Instant::now() + POLL_WAIT;
        let with_headers = self.decoding.reads_headers();
        let mut records = Vec::new();
        while records.len() < RECORDS_PER_BATCH {
            let consumer = self.consumer.clone();
            let received = tokio::time::timeout_at(deadline, consumer.recv()).await;
            let message = match received {
                Err(_elapsed) => break,
                Ok(Err(e)) => return Err(self.error("cannot read a record", e)),
                Ok(Ok(message)) => message,
            };
            let topic = self.topic_name(rdkafka::Message::topic(&message));
            let record = Record::from_message(&message, topic, with_headers);
            drop(message);
            if self.accept(&record)? {
                records.push(record);
            }
        }
        Ok(records)
    }

    fn topic_name(&mut self, topic: &str) -> Arc<str> {
        if let Some(name) = self.topic_names.get(topic) {
            return name.clone();
        }
        let name: Arc<str> = Arc::from(topic);
        self.topic_names.insert(topic.to_string(), name.clone());
        name
    }
}

#[async_trait::async_trait]
impl Source for KafkaSource {
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.ready.is_empty() {
            self.assign_pending().await?;
            let records = self.poll().await?;
            self.finish_passed_partitions()?;
            self.started = true;
            for (partition, records) in by_partition(records) {
                if let Some(batch) = self.decoding.decode(&records)?
                    && batch.num_rows() > 0
                {
                    self.ready.push_back(Decoded {
                        first_offset: records.first().map_or(0, |r| r.offset),
                        partition,
                        batch,
                    });
                }
            }
        }
        if let Some(decoded) = self.ready.pop_front() {
            self.last_split = Some(decoded.partition.split_id());
            return Ok(Some(decoded.batch));
        }
        self.last_split = None;
        let all_read =
            self.pending.is_empty() && self.partitions.values().all(PartitionState::finished);
        if self.bound.is_some() && all_read {
            return Ok(None);
        }
        Ok(Some(RecordBatch::new_empty(self.decoding.schema().clone())))
    }

    fn split_view(&self) -> Option<SplitView<'_>> {
        Some(SplitView {
            reading: &self.reading,
            last_batch: self.last_split.as_deref(),
        })
    }

    fn snapshot_position(&self) -> Result<String> {
        let mut splits = self.finished.clone();
        for (id, state) in &self.partitions {
            // Records decoded but not returned belong to a later checkpoint.
            let mut state = *state;
            if let Some(decoded) = self.ready.iter().find(|d| d.partition == *id) {
                state.offset = decoded.first_offset;
            }
            splits.push(SourceSplit {
                id: id.split_id(),
                state: encode_state(&state)?,
                finished: state.finished(),
            });
        }
        splits.extend(self.pending.iter().cloned());
        encode_splits(&splits).map_err(|e| {
            StreamError::Failed(format!("cannot encode the Kafka source's splits: {e}"))
        })
    }

    fn restore_position(&mut self, _position: &str) -> Result<()> {
        Err(StreamError::Failed(
            "the kafka source restores through its splits".into(),
        ))
    }

    fn add_splits(&mut self, splits: Vec<SourceSplit>) -> Result<()> {
        for split in splits {
            PartitionId::parse(&split.id)?;
            if split.finished {
                self.finished.push(split);
            } else {
                self.pending.push(split);
            }
        }
        Ok(())
    }

    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64, position: &str) {
        if !self.commits_to_group {
            return;
        }
        if let Err(error) = self.commit_offsets(position) {
            tracing::warn!(table = %self.table.name, checkpoint = checkpoint_id, %error, "cannot commit the checkpoint's offsets to the consumer group");
        }
    }

    fn lag(&self) -> Vec<(String, i64)> {
        self.partitions
            .iter()
            .map(|(id, state)| {
                let behind = match (state.finished(), self.cached_end(id)) {
                    (true, _) => 0,
                    (false, Some(end)) => (end - state.offset).max(0),
                    // Not fetched yet: nothing known to be behind.
                    (false, None) => 0,
                };
                (id.split_id(), behind)
            })
            .collect()
    }

    fn records_dropped(&self) -> Vec<(&'static str, u64)> {
        vec![(MALFORMED, self.decoding.dropped())]
    }
}

impl KafkaSource {
    /// The end (high watermark) of a partition as the consumer's last fetch
    /// response gave it, without asking the broker; `None` before the
    /// first fetch.
    fn cached_end(&self, id: &PartitionId) -> Option<i64> {
        let topic = std::ffi::CString::new(&*id.topic).ok()?;
        let (mut low, mut high) = (-1i64, -1i64);
        // SAFETY: the client pointer lives as long as `self.consumer`; the
        // topic is a NUL-terminated string that outlives the call; `low`
        // and `high` are valid for writes. librdkafka only reads its cache.
        let error = unsafe {
            rdkafka::bindings::rd_kafka_get_watermark_offsets(
                self.consumer.client().native_ptr(),
                topic.as_ptr(),
                id.partition,
                &mut low,
                &mut high,
            )
        };
        (error == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
            .then_some(high)
    }

    /// Commits the next offsets of a checkpoint's position to the table's
    /// consumer group, without waiting for the broker.
    fn commit_offsets(&self, position: &str) -> Result<()> {
        let mut offsets = TopicPartitionList::new();
        for split in decode_splits(position).map_err(StreamError::Failed)? {
            if split.state.is_empty() {
                continue;
            }
            let id = PartitionId::parse(&split.id)?;
            let state: PartitionState = serde_json::from_str(&split.state)
                .map_err(|e| StreamError::Failed(format!("a malformed split state: {e}")))?;
            offsets
                .add_partition_offset(&id.topic, id.partition, Offset::Offset(state.offset))
                .map_err(|e| self.error("cannot list an offset to commit", e))?;
        }
        if offsets.count() == 0 {
            return Ok(());
        }
        self.consumer
            .commit(&offsets, CommitMode::Async)
            .map_err(|e| self.error("cannot commit offsets", e))
    }
}

/// Records grouped by partition, each group in offset order: a batch
/// holds records of one partition, so the runtime can keep a watermark per
/// partition.
fn by_partition(records: Vec<Record>) -> Vec<(PartitionId, Vec<Record>)> {
    let mut groups: Vec<(PartitionId, Vec<Record>)> = Vec::new();
    for record in records {
        let group = groups
            .iter_mut()
            .find(|(id, _)| id.partition == record.partition && id.topic == record.topic);
        match group {
            Some((_, group)) => group.push(record),
            None => groups.push((
                PartitionId {
                    topic: record.topic.clone(),
                    partition: record.partition,
                },
                vec![record],
            )),
        }
    }
    groups
}

fn encode_state(state: &PartitionState) -> Result<String> {
    serde_json::to_string(state)
        .map_err(|e| StreamError::Failed(format!("cannot encode a Kafka partition's state: {e}")))
}

/// Looks up where new splits start and end: blocking broker requests, run
/// off the async runtime.
struct Resolver {
    table: TableDescriptor,
    consumer: Arc<StreamConsumer>,
    startup: OffsetSpec,
    bound: Option<OffsetSpec>,
}

impl Resolver {
    fn resolve_all(&self, splits: Vec<SourceSplit>) -> Result<Vec<(PartitionId, PartitionState)>> {
        splits
            .into_iter()
            .map(|split| {
                let id = PartitionId::parse(&split.id)?;
                let state = if split.state.is_empty() {
                    PartitionState {
                        offset: self.offset(&id, &self.startup, false)?,
                        stop: match &self.bound {
                            Some(bound) => Some(self.offset(&id, bound, true)?),
                            None => None,
                        },
                    }
                } else {
                    serde_json::from_str(&split.state).map_err(|e| {
                        StreamError::Failed(format!(
                            "the position '{}' of Kafka partition {} is malformed: {e}",
                            split.state, split.id
                        ))
                    })?
                };
                Ok((id, state))
            })
            .collect()
    }

    /// The offset `spec` gives partition `id`; `end` reads it as where the
    /// partition ends (partitions without a specific offset end at their
    /// latest) rather than where it starts (they start at their earliest).
    fn offset(&self, id: &PartitionId, spec: &OffsetSpec, end: bool) -> Result<i64> {
        let (low, high) = self
            .consumer
            .fetch_watermarks(&id.topic, id.partition, REQUEST_TIMEOUT)
            .map_err(|e| {
                self.error(
                    &format!("cannot look up the offsets of {}", id.split_id()),
                    e,
                )
            })?;
        let offset = match spec {
            OffsetSpec::Earliest => low,
            OffsetSpec::Latest => high,
            OffsetSpec::Specific(offsets) => match offsets.get(&id.partition) {
                Some(offset) => *offset,
                None if end => high,
                None => low,
            },
            OffsetSpec::Timestamp(millis) => self.offset_at(id, *millis)?.unwrap_or(high),
            OffsetSpec::Group => match self.committed(id)? {
                Some(offset) => offset,
                None => self.reset(id, low, high)?,
            },
        };
        Ok(offset.clamp(low, high))
    }

    /// The first offset at or after `millis`; `None` past the last record.
    fn offset_at(&self, id: &PartitionId, millis: i64) -> Result<Option<i64>> {
        let query = partition_list(id, Offset::Offset(millis))?;
        let answer = self
            .consumer
            .offsets_for_times(query, REQUEST_TIMEOUT)
            .map_err(|e| {
                self.error(
                    &format!("cannot look up offsets by time in {}", id.split_id()),
                    e,
                )
            })?;
        Ok(offset_in(&answer, id))
    }

    /// The group's committed offset of a partition, if any.
    fn committed(&self, id: &PartitionId) -> Result<Option<i64>> {
        let query = partition_list(id, Offset::Invalid)?;
        let answer = self
            .consumer
            .committed_offsets(query, REQUEST_TIMEOUT)
            .map_err(|e| {
                self.error(
                    &format!("cannot read the group's offset of {}", id.split_id()),
                    e,
                )
            })?;
        Ok(offset_in(&answer, id))
    }

    /// Where a partition without a committed offset starts, as
    /// `properties.auto.offset.reset` says; without it, an error (Flink's
    /// default reset strategy, `none`).
    fn reset(&self, id: &PartitionId, low: i64, high: i64) -> Result<i64> {
        let properties = client_properties(&self.table);
        match properties.get("auto.offset.reset").map(String::as_str) {
            Some("earliest" | "smallest" | "beginning") => Ok(low),
            Some("latest" | "largest" | "end") => Ok(high),
            _ => Err(ConnectorError::external(
                &self.table.name,
                format!("partition {} has no offset committed by the group", id.split_id()),
                ErrorClass::User,
                "set 'properties.auto.offset.reset' to 'earliest' or 'latest', or choose another 'scan.startup.mode'",
            )
            .into()),
        }
    }

    fn error(&self, context: &str, error: rdkafka::error::KafkaError) -> StreamError {
        kafka_error(&self.table, context, error).into()
    }
}

/// A list of one partition at `offset`, to ask the broker about.
fn partition_list(id: &PartitionId, offset: Offset) -> Result<TopicPartitionList> {
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(&id.topic, id.partition, offset)
        .map_err(|e| StreamError::Failed(format!("cannot ask about {}: {e}", id.split_id())))?;
    Ok(list)
}

/// The absolute offset an answer gives partition `id`, if any.
fn offset_in(answer: &TopicPartitionList, id: &PartitionId) -> Option<i64> {
    answer
        .find_partition(&id.topic, id.partition)
        .and_then(|element| match element.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        })
}
