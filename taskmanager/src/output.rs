//! The output side of a subtask: partitions its batches over the channels
//! of each outgoing edge and sends control elements to all of them.

use arrow::array::UInt32Array;
use arrow::compute::take_record_batch;
use arrow::record_batch::RecordBatch;
use rtdw_operators::keys::{hash_keys, key_group, subtask_for_key_group};
use rtdw_operators::{Element, Result, StreamError};
use rtdw_plan::Partitioning;
use tokio::sync::mpsc;

use crate::exchange::remote::RemoteSender;

/// The sending end of one channel.
pub enum ChannelSender {
    /// To a subtask on this task manager.
    Local(mpsc::Sender<Element>),
    /// To a subtask on another task manager.
    Remote(Box<RemoteSender>),
}

impl ChannelSender {
    async fn send(&mut self, element: Element) -> Result<()> {
        match self {
            ChannelSender::Local(sender) => sender
                .send(element)
                .await
                .map_err(|_| StreamError::PeerGone("downstream subtask is gone".into())),
            ChannelSender::Remote(remote) => remote.send(&element).await,
        }
    }

    async fn close(self) -> Result<()> {
        match self {
            ChannelSender::Local(_) => Ok(()),
            ChannelSender::Remote(remote) => remote.close().await,
        }
    }
}

/// The channels of one outgoing edge, indexed by downstream subtask.
pub struct EdgeOutput {
    partitioning: Partitioning,
    channels: Vec<ChannelSender>,
    max_parallelism: u32,
    /// The subtask sending (for forward edges).
    subtask: u32,
    /// Next channel for rebalancing.
    next: usize,
}

impl EdgeOutput {
    /// An edge output with one sender per downstream subtask. For a forward
    /// edge the single channel to the same-index subtask sits at `subtask`.
    pub fn new(
        partitioning: Partitioning,
        channels: Vec<ChannelSender>,
        max_parallelism: u32,
        subtask: u32,
    ) -> Self {
        EdgeOutput {
            partitioning,
            channels,
            max_parallelism,
            subtask,
            next: subtask as usize,
        }
    }

    async fn send_batch(&mut self, batch: RecordBatch) -> Result<()> {
        match &self.partitioning {
            Partitioning::Forward => {
                let channel = if self.channels.len() == 1 {
                    0
                } else {
                    self.subtask as usize
                };
                self.channels[channel].send(Element::Batch(batch)).await
            }
            Partitioning::Rebalance => {
                let channel = self.next % self.channels.len();
                self.next = channel + 1;
                self.channels[channel].send(Element::Batch(batch)).await
            }
            Partitioning::Broadcast => {
                for channel in &mut self.channels {
                    channel.send(Element::Batch(batch.clone())).await?;
                }
                Ok(())
            }
            Partitioning::Hash(keys) => {
                let parts = split_by_key(
                    &batch,
                    keys,
                    self.channels.len() as u32,
                    self.max_parallelism,
                )?;
                for (target, part) in parts.into_iter().enumerate() {
                    if let Some(part) = part {
                        self.channels[target].send(Element::Batch(part)).await?;
                    }
                }
                Ok(())
            }
        }
    }

    async fn broadcast(&mut self, element: Element) -> Result<()> {
        for channel in &mut self.channels {
            channel.send(element.clone()).await?;
        }
        Ok(())
    }
}

/// Splits a batch by the owner subtask of each row's key group.
fn split_by_key(
    batch: &RecordBatch,
    keys: &[usize],
    parallelism: u32,
    max_parallelism: u32,
) -> Result<Vec<Option<RecordBatch>>> {
    let columns: Vec<_> = keys.iter().map(|&k| batch.column(k).clone()).collect();
    let hashes = hash_keys(&columns, batch.num_rows())?;
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); parallelism as usize];
    for (row, hash) in hashes.into_iter().enumerate() {
        let target = subtask_for_key_group(
            key_group(hash, max_parallelism),
            max_parallelism,
            parallelism,
        );
        rows[target as usize].push(row as u32);
    }
    rows.into_iter()
        .map(|indices| {
            if indices.is_empty() {
                return Ok(None);
            }
            if indices.len() == batch.num_rows() {
                return Ok(Some(batch.clone()));
            }
            Ok(Some(take_record_batch(batch, &UInt32Array::from(indices))?))
        })
        .collect()
}

/// All outgoing edges of a subtask.
#[derive(Default)]
pub struct Output {
    edges: Vec<EdgeOutput>,
}

impl Output {
    /// Output over the given edges.
    pub fn new(edges: Vec<EdgeOutput>) -> Self {
        Output { edges }
    }

    /// Sends a batch along every edge.
    pub async fn send_batch(&mut self, batch: RecordBatch) -> Result<()> {
        for edge in &mut self.edges {
            edge.send_batch(batch.clone()).await?;
        }
        Ok(())
    }

    /// Sends a watermark, barrier or end-of-input to every channel.
    pub async fn broadcast(&mut self, element: Element) -> Result<()> {
        for edge in &mut self.edges {
            edge.broadcast(element.clone()).await?;
        }
        Ok(())
    }

    /// Sends end-of-input everywhere and waits until remote receivers have
    /// taken everything.
    pub async fn finish(self) -> Result<()> {
        let mut output = self;
        output.broadcast(Element::EndOfInput).await?;
        for edge in output.edges {
            for channel in edge.channels {
                channel.close().await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use super::*;

    #[test]
    fn hash_split_sends_every_row_once_and_equal_keys_together() {
        let keys: Vec<i64> = (0..1000).map(|i| i % 37).collect();
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(keys))]).unwrap();
        let parts = split_by_key(&batch, &[0], 3, 128).unwrap();
        let mut owner = std::collections::HashMap::new();
        let mut total = 0;
        for (target, part) in parts.iter().enumerate() {
            let Some(part) = part else { continue };
            total += part.num_rows();
            for &k in part.column(0).as_primitive::<Int64Type>().values() {
                assert_eq!(*owner.entry(k).or_insert(target), target, "key {k} split");
            }
        }
        assert_eq!(total, 1000);
        assert_eq!(owner.len(), 37);
        assert!(
            parts.iter().all(Option::is_some),
            "37 keys should reach all 3 subtasks"
        );
    }
}

#[cfg(test)]
mod partitioning_tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use super::*;

    fn batch(values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))]).unwrap()
    }

    /// Sends three batches over an edge of `targets` local channels and
    /// returns the values each channel received before end-of-input.
    async fn deliver(partitioning: Partitioning, targets: usize, subtask: u32) -> Vec<Vec<i64>> {
        let (senders, mut receivers): (Vec<_>, Vec<_>) =
            (0..targets).map(|_| mpsc::channel(16)).unzip();
        let channels = senders.into_iter().map(ChannelSender::Local).collect();
        let mut output = Output::new(vec![EdgeOutput::new(partitioning, channels, 128, subtask)]);
        for values in [[1, 2], [3, 4], [5, 6]] {
            output.send_batch(batch(&values)).await.unwrap();
        }
        output.finish().await.unwrap();
        let mut received = Vec::new();
        for receiver in &mut receivers {
            let mut values = Vec::new();
            loop {
                match receiver.recv().await.expect("end of input before close") {
                    Element::Batch(b) => values.extend(
                        b.column(0)
                            .as_primitive::<Int64Type>()
                            .values()
                            .iter()
                            .copied(),
                    ),
                    Element::EndOfInput => break,
                    other => panic!("unexpected {other:?}"),
                }
            }
            received.push(values);
        }
        received
    }

    #[tokio::test]
    async fn rebalance_deals_batches_round_robin_from_the_subtask_index() {
        assert_eq!(
            deliver(Partitioning::Rebalance, 2, 1).await,
            [vec![3, 4], vec![1, 2, 5, 6]]
        );
    }

    #[tokio::test]
    async fn broadcast_sends_everything_everywhere() {
        let all = vec![1, 2, 3, 4, 5, 6];
        assert_eq!(
            deliver(Partitioning::Broadcast, 3, 0).await,
            [all.clone(), all.clone(), all]
        );
    }

    #[tokio::test]
    async fn forward_sends_to_the_single_channel() {
        assert_eq!(
            deliver(Partitioning::Forward, 1, 3).await,
            [vec![1, 2, 3, 4, 5, 6]]
        );
    }

    #[tokio::test]
    async fn hash_sends_each_key_to_exactly_one_channel() {
        let received = deliver(Partitioning::Hash(vec![0]), 2, 0).await;
        let mut all: Vec<i64> = received.concat();
        all.sort();
        assert_eq!(all, [1, 2, 3, 4, 5, 6]);
    }
}
