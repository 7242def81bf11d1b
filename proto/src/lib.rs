//! The gRPC contracts between rtdw's coordinator, task managers and clients.
//!
//! Generated from `proto/rtdw/v1/*.proto`; the encoded descriptor set is
//! exported so servers can enable gRPC reflection (`grpcurl list`).

/// Version 1 of the rtdw API (protobuf package `rtdw.v1`).
pub mod v1 {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("rtdw.v1");
}

/// The encoded `FileDescriptorSet` of every rtdw proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("rtdw_descriptor");
