//! Compiles `proto/falco/v1/*.proto` and the trimmed CRI API
//! (`proto/cri/runtime/v1/api.proto`) with a vendored `protoc`, so a fresh
//! machine needs no system protobuf compiler.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let proto = "proto/falco/v1/sensor.proto";
    println!("cargo:rerun-if-changed={proto}");
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(&[proto], &["proto"])?;
    // The CRI client (container metadata, stop-container) and the test harness
    // that plays the kubelet both need client stubs only.
    let cri = "proto/cri/runtime/v1/api.proto";
    println!("cargo:rerun-if-changed={cri}");
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .compile_protos(&[cri], &["proto/cri"])?;
    Ok(())
}
