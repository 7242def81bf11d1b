//! The output side of a subtask: partitions its batches over the channels
//! of each outgoing edge and sends control elements to all of them.

use arrow::array::UInt32Array;
use arrow::compute::take_record_batch;
use arrow::record_batch::RecordBatch;
use rtdw_operators::keys::{hash_keys, key_group, subtask_for_key_group};
use rtdw_operators::{Element, Result, StreamError};
use rtdw_sql::Partitioning;
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
                .map_err(|_| StreamError::Failed("downstream subtask is gone".into())),
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
