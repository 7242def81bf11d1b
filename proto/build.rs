//! Compiles the gRPC contracts and the descriptor set served by reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("rtdw_descriptor.bin"))
        .compile_protos(
            &[
                "rtdw/v1/common.proto",
                "rtdw/v1/coordinator.proto",
                "rtdw/v1/plan.proto",
                "rtdw/v1/taskmanager.proto",
            ],
            &["."],
        )?;
    Ok(())
}
