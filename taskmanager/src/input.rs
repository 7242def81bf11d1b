//! The input side of a subtask: reads its channels fairly, tracks which have
//! ended and combines their watermarks.

use std::future::poll_fn;
use std::task::Poll;

use rtdw_operators::{Element, Result, StreamError};
use tokio::sync::mpsc;

/// One incoming channel.
pub struct InputChannel {
    /// Which input of the vertex (edge order) it belongs to.
    pub input: usize,
    receiver: mpsc::Receiver<Element>,
    ended: bool,
    watermark: i64,
}

impl InputChannel {
    /// A channel of input `input`.
    pub fn new(input: usize, receiver: mpsc::Receiver<Element>) -> Self {
        InputChannel {
            input,
            receiver,
            ended: false,
            watermark: i64::MIN,
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
    /// A barrier arrived on a channel.
    Barrier(rtdw_operators::Barrier),
    /// Every channel ended.
    Ended,
}

/// All incoming channels of a subtask.
pub struct InputGate {
    channels: Vec<InputChannel>,
    next: usize,
    watermark: i64,
}

impl InputGate {
    /// A gate over `channels`.
    pub fn new(channels: Vec<InputChannel>) -> Self {
        InputGate {
            channels,
            next: 0,
            watermark: i64::MIN,
        }
    }

    /// The next event, taking channels in turn so none starves.
    pub async fn next(&mut self) -> Result<InputEvent> {
        loop {
            if self.channels.iter().all(|c| c.ended) {
                return Ok(InputEvent::Ended);
            }
            let (index, element) = self.receive().await?;
            match element {
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
                Element::Barrier(barrier) => return Ok(InputEvent::Barrier(barrier)),
                Element::EndOfInput => {
                    self.channels[index].ended = true;
                    if let Some(ts) = self.advance_watermark() {
                        return Ok(InputEvent::Watermark(ts));
                    }
                }
            }
        }
    }

    /// The minimum watermark over the channels still open, when it rose.
    fn advance_watermark(&mut self) -> Option<i64> {
        let combined = self
            .channels
            .iter()
            .filter(|c| !c.ended)
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
                if channel.ended {
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
