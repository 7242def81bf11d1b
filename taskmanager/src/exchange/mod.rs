//! Moving stream elements between subtasks.
//!
//! Every (edge, upstream subtask, downstream subtask) triple is a channel. A
//! channel's receiving end is a bounded queue owned by the downstream subtask;
//! the [`ChannelRegistry`] of its task manager holds the sending end. An
//! upstream subtask on the same task manager takes the sender directly; one on
//! another task manager opens an Arrow Flight `DoPut` stream to it
//! ([`remote`]), which the receiving task manager's Flight service
//! ([`server`]) feeds into the same queue. Control elements ride in the same
//! ordered stream as `app_metadata` ([`codec`]).
//!
//! Flow control: queues are bounded and the Flight service reads the next
//! message from the network only after the previous one fit into the queue,
//! so HTTP/2 flow control passes backpressure to the sender, whose bounded
//! send then blocks the upstream subtask.

pub mod codec;
pub mod registry;
pub mod remote;
pub mod server;

pub use registry::{ChannelKey, ChannelRegistry};

/// Elements a channel queue holds before its sender waits.
pub const CHANNEL_CAPACITY: usize = 8;
