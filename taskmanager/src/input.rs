//! The input side of a subtask: reads its channels fairly, tracks which have
//! ended, combines their watermarks and aligns checkpoint barriers: a
//! channel that delivered barrier n is not read again until every other open
//! channel delivered it too, so the snapshot taken then reflects exactly the
//! elements before the barrier on every channel.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::Poll;

use rtdw_observability::traces::follow_trace_parent;
use rtdw_operators::{Barrier, Element, Result, StreamError};
use tokio::sync::mpsc;

/// One incoming channel.
pub struct InputChannel {
    /// Which input of the vertex (edge order) it belongs to.
    pub input: usize,
    receiver: mpsc::Receiver<Element>,
    ended: bool,
    watermark: i64,
    /// The sender said it is idle and has sent nothing since.
    idle: bool,
    /// Delivered the barrier being aligned; not read until alignment ends.
    blocked: bool,
}

impl InputChannel {
    /// A channel of input `input`.
    pub fn new(input: usize, receiver: mpsc::Receiver<Element>) -> Self {
        InputChannel {
            input,
            receiver,
            ended: false,
            watermark: i64::MIN,
            idle: false,
            blocked: false,
        }
    }
}

/// What the gate delivers next.
pub enum InputEvent {
    /// A batch of input `input`.
    Batch {
        /// The vertex input it arrived on.
        input: usize,
        /// The rows.
        batch: arrow::record_batch::RecordBatch,
    },
    /// The combined watermark (the minimum over channels) advanced.
    Watermark(i64),
    /// Every open channel delivered this barrier.
    Barrier(Barrier),
    /// Every channel ended.
    Ended,
}

/// All incoming channels of a subtask.
pub struct InputGate {
    channels: Vec<InputChannel>,
    next: usize,
    watermark: i64,
    /// The barrier being aligned, and the span timing the alignment in the
    /// checkpoint's trace.
    aligning: Option<(Barrier, tracing::Span)>,
    /// The subtask reading, (vertex, index), for span attributes.
    owner: (u32, u32),
    /// Events decided but not yet delivered.
    ready: VecDeque<InputEvent>,
}

impl InputGate {
    /// A gate over `channels` of subtask `owner` (vertex, index).
    pub fn new(channels: Vec<InputChannel>, owner: (u32, u32)) -> Self {
        InputGate {
            channels,
            next: 0,
            watermark: i64::MIN,
            aligning: None,
            owner,
            ready: VecDeque::new(),
        }
    }

    /// The next event, taking channels in turn so none starves. Cancel-safe:
    /// nothing is lost when the returned future is dropped before it is ready.
    pub async fn next(&mut self) -> Result<InputEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(event);
            }
            if self.channels.iter().all(|c| c.ended) {
                return Ok(InputEvent::Ended);
            }
            let (index, element) = self.receive().await?;
            self.channels[index].idle = matches!(element, Element::Idle);
            match element {
                Element::Idle => {
                    if let Some(ts) = self.advance_watermark() {
                        return Ok(InputEvent::Watermark(ts));
                    }
                }
                Element::Batch(batch) => {
                    return Ok(InputEvent::Batch {
                        input: self.channels[index].input,
                        batch,
                    });
                }
                Element::Watermark(ts) => {
                    self.channels[index].watermark = self.channels[index].watermark.max(ts);
                    if let Some(ts) = self.advance_watermark() {
                        return Ok(InputEvent::Watermark(ts));
                    }
                }
                Element::Barrier(barrier) => {
                    match self.aligning.as_ref().map(|(b, _)| b.checkpoint_id) {
                        // A barrier of a checkpoint already abandoned.
                        Some(current) if barrier.checkpoint_id < current => continue,
                        // A newer checkpoint started before this one
                        // aligned (a source never got its trigger): give up
                        // on the old one and align the new.
                        Some(current) if barrier.checkpoint_id > current => {
                            for channel in &mut self.channels {
                                channel.blocked = false;
                            }
                            self.aligning = None;
                        }
                        _ => {}
                    }
                    self.channels[index].blocked = true;
                    if self.aligning.is_none() {
                        let span = tracing::info_span!(
                            "align",
                            checkpoint = barrier.checkpoint_id,
                            vertex = self.owner.0,
                            subtask = self.owner.1
                        );
                        follow_trace_parent(&span, &barrier.trace_parent);
                        self.aligning = Some((barrier, span));
                    }
                    self.complete_alignment();
                }
                Element::EndOfInput => {
                    self.channels[index].ended = true;
                    if let Some(ts) = self.advance_watermark() {
                        self.ready.push_back(InputEvent::Watermark(ts));
                    }
                    self.complete_alignment();
                }
            }
        }
    }

    /// When every open channel delivered the barrier being aligned, releases
    /// them all and queues the barrier.
    fn complete_alignment(&mut self) {
        if self.aligning.is_none() || !self.channels.iter().all(|c| c.ended || c.blocked) {
            return;
        }
        for channel in &mut self.channels {
            channel.blocked = false;
        }
        // Dropping the span ends the alignment's timing.
        if let Some((barrier, _span)) = self.aligning.take() {
            self.ready.push_back(InputEvent::Barrier(barrier));
        }
    }

    /// The minimum watermark over the channels still open and not idle,
    /// when it rose. While every open channel is idle it stays.
    fn advance_watermark(&mut self) -> Option<i64> {
        let combined = self
            .channels
            .iter()
            .filter(|c| !c.ended && !c.idle)
            .map(|c| c.watermark)
            .min()?;
        (combined > self.watermark).then(|| {
            self.watermark = combined;
            combined
        })
    }

    async fn receive(&mut self) -> Result<(usize, Element)> {
        let count = self.channels.len();
        poll_fn(|cx| {
            for k in 0..count {
                let i = (self.next + k) % count;
                let channel = &mut self.channels[i];
                if channel.ended || channel.blocked {
                    continue;
                }
                match channel.receiver.poll_recv(cx) {
                    Poll::Ready(Some(element)) => {
                        self.next = i + 1;
                        return Poll::Ready(Ok((i, element)));
                    }
                    Poll::Ready(None) => {
                        return Poll::Ready(Err(StreamError::PeerGone(format!(
                            "input channel {i} closed before its end of input: the upstream subtask stopped"
                        ))));
                    }
                    Poll::Pending => {}
                }
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use arrow::record_batch::RecordBatch;

    use super::*;

    fn batch(value: i64) -> Element {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        Element::Batch(
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![value]))]).unwrap(),
        )
    }

    fn barrier(id: u64) -> Element {
        Element::Barrier(Barrier {
            checkpoint_id: id,
            savepoint: false,
            location: "file:///chk".into(),
            trace_parent: "".into(),
        })
    }

    /// Feeds each channel its elements and renders what the gate delivers.
    async fn deliver(per_channel: Vec<Vec<Element>>) -> Vec<String> {
        let mut channels = Vec::new();
        for elements in per_channel {
            let (sender, receiver) = mpsc::channel(elements.len() + 1);
            for element in elements {
                sender.try_send(element).unwrap();
            }
            channels.push(InputChannel::new(0, receiver));
        }
        let mut gate = InputGate::new(channels, (1, 0));
        let mut seen = Vec::new();
        loop {
            match gate.next().await.unwrap() {
                InputEvent::Batch { batch, .. } => seen.push(
                    batch
                        .column(0)
                        .as_primitive::<Int64Type>()
                        .value(0)
                        .to_string(),
                ),
                InputEvent::Barrier(b) => seen.push(format!("|{}", b.checkpoint_id)),
                InputEvent::Watermark(_) => {}
                InputEvent::Ended => return seen,
            }
        }
    }

    #[tokio::test]
    async fn a_barrier_is_delivered_once_every_channel_sent_it_and_nothing_after_it_earlier() {
        // Values below 100 come before the barrier on their channel.
        let seen = deliver(vec![
            vec![
                batch(1),
                barrier(1),
                batch(101),
                batch(102),
                Element::EndOfInput,
            ],
            vec![
                batch(2),
                batch(3),
                batch(4),
                barrier(1),
                batch(103),
                Element::EndOfInput,
            ],
        ])
        .await;
        let at = seen.iter().position(|s| s == "|1").expect("the barrier");
        let (before, after) = seen.split_at(at);
        let mut before: Vec<&str> = before.iter().map(String::as_str).collect();
        before.sort();
        assert_eq!(before, ["1", "2", "3", "4"]);
        let mut after: Vec<&str> = after[1..].iter().map(String::as_str).collect();
        after.sort();
        assert_eq!(after, ["101", "102", "103"]);
    }

    #[tokio::test]
    async fn a_newer_barrier_abandons_an_alignment_that_cannot_complete() {
        // Channel 1's source never got checkpoint 1's trigger.
        let seen = deliver(vec![
            vec![
                barrier(1),
                batch(101),
                barrier(2),
                batch(201),
                Element::EndOfInput,
            ],
            vec![batch(2), barrier(2), batch(202), Element::EndOfInput],
        ])
        .await;
        assert!(
            !seen.contains(&"|1".to_string()),
            "checkpoint 1 never aligns: {seen:?}"
        );
        let at = seen
            .iter()
            .position(|s| s == "|2")
            .expect("checkpoint 2 aligns");
        let mut after: Vec<&str> = seen[at + 1..].iter().map(String::as_str).collect();
        after.sort();
        assert_eq!(after, ["201", "202"], "{seen:?}");
    }

    #[tokio::test]
    async fn an_ended_channel_does_not_hold_up_alignment() {
        let seen = deliver(vec![
            vec![batch(1), Element::EndOfInput],
            vec![batch(2), barrier(5), batch(102), Element::EndOfInput],
        ])
        .await;
        let at = seen.iter().position(|s| s == "|5").expect("the barrier");
        assert_eq!(seen[at + 1..], ["102".to_string()]);
        assert!(seen[..at].contains(&"1".to_string()) && seen[..at].contains(&"2".to_string()));
    }

    #[tokio::test]
    async fn an_idle_channel_does_not_hold_back_the_watermark_until_it_sends_again() {
        let (busy, busy_rx) = mpsc::channel(8);
        let (quiet, quiet_rx) = mpsc::channel(8);
        let mut gate = InputGate::new(
            vec![
                InputChannel::new(0, busy_rx),
                InputChannel::new(0, quiet_rx),
            ],
            (1, 0),
        );
        let watermark = async |gate: &mut InputGate| match tokio::time::timeout(
            std::time::Duration::from_millis(200),
            gate.next(),
        )
        .await
        {
            Ok(Ok(InputEvent::Watermark(ts))) => Some(ts),
            Ok(Ok(_)) => panic!("only watermarks are sent"),
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => None,
        };
        busy.send(Element::Watermark(100)).await.unwrap();
        assert_eq!(
            watermark(&mut gate).await,
            None,
            "the quiet channel has none yet"
        );
        quiet.send(Element::Idle).await.unwrap();
        assert_eq!(
            watermark(&mut gate).await,
            Some(100),
            "idle: the busy one decides"
        );
        // Active again, behind: it holds the watermark back again.
        quiet.send(Element::Watermark(50)).await.unwrap();
        assert_eq!(watermark(&mut gate).await, None);
        busy.send(Element::Watermark(200)).await.unwrap();
        assert_eq!(
            watermark(&mut gate).await,
            None,
            "min(200, 50) is below 100"
        );
        quiet.send(Element::Watermark(300)).await.unwrap();
        assert_eq!(watermark(&mut gate).await, Some(200));
    }
}
