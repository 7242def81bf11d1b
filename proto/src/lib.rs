//! The gRPC contracts between rtdw's coordinator, task managers and clients.
//!
//! Generated from `proto/rtdw/v1/*.proto`; the encoded descriptor set is
//! exported so servers can enable gRPC reflection (`grpcurl list`).

/// Version 1 of the rtdw API (protobuf package `rtdw.v1`).
pub mod v1 {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("rtdw.v1");
}

/// `RUNNING`, `FINISHED`, ... for a [`v1::JobState`] number.
pub fn job_state_name(state: i32) -> &'static str {
    v1::JobState::try_from(state)
        .map(|s| s.as_str_name().trim_start_matches("JOB_STATE_"))
        .unwrap_or("UNKNOWN")
}

/// `RUNNING`, `FINISHED`, ... for a [`v1::TaskState`] number.
pub fn task_state_name(state: i32) -> &'static str {
    v1::TaskState::try_from(state)
        .map(|s| s.as_str_name().trim_start_matches("TASK_STATE_"))
        .unwrap_or("UNKNOWN")
}

/// `ALIVE` or `LOST` for a [`v1::TaskManagerState`] number.
pub fn taskmanager_state_name(state: i32) -> &'static str {
    v1::TaskManagerState::try_from(state)
        .map(|s| s.as_str_name().trim_start_matches("TASK_MANAGER_STATE_"))
        .unwrap_or("UNKNOWN")
}

/// The encoded `FileDescriptorSet` of every rtdw proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("rtdw_descriptor");
