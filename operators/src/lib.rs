//! rtdw's dataflow model and built-in operators.
//!
//! A stream is a sequence of [`Element`]s: Arrow record batches interleaved
//! with watermarks, checkpoint barriers and end-of-input. Streams that carry
//! updates or deletes hold a trailing row-kind column ([`row_kind`]) with
//! Flink's `+I/-U/+U/-D` meaning. Operators ([`Operator`]) transform whole
//! batches; sources ([`Source`]) and sinks ([`Sink`]) connect to the outside.

pub mod aggregate;
pub mod calc;
pub mod element;
pub mod error;
pub(crate) mod event_time;
pub mod join;
mod key_index;
pub mod keys;
pub mod lookup;
pub mod normalize;
pub mod operator;
pub mod rank;
pub mod row_kind;
pub mod time;
mod ttl;
pub mod upsert;
pub mod watermark;
pub mod window;

pub use element::{Barrier, Element};
pub use error::{ErrorClass, Result, StreamError};
pub use operator::{
    AsyncOperator, END_OF_INPUT, KEY_GROUP_COLUMN, Operator, Sink, Source, SourceSplit, SplitView,
    SubtaskContext,
};
pub use row_kind::RowKind;
