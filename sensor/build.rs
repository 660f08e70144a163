//! Compiles the CO-RE eBPF programs in `bpf/src/` into a libbpf-rs skeleton
//! (written to OUT_DIR, never committed), and on every OS generates the Rust
//! constants of the kernel contract from `bpf/src/sensor.h` (`contract.rs`,
//! see `crate::contract`). Only Linux builds need clang; other targets
//! compile the library without the probe. The kernel types come from the
//! vmlinux.h vendored per architecture (`bpf/src/vmlinux/`), not from the
//! build machine, so builds are reproducible and need no kernel BTF.

#[path = "build_contract.rs"]
mod contract_gen;

use std::env;
#[cfg(target_os = "linux")]
use std::path::{Path, PathBuf};

const BPF_SOURCE: &str = "../bpf/src/sensor.bpf.c";
const BPF_HEADERS: &[&str] = &[
    "../bpf/src/sensor.h",
    "../bpf/src/helpers.bpf.h",
    "../bpf/src/per_syscall.bpf.h",
];
/// Kernel type headers, one per architecture (`<dir>/<arch>/vmlinux.h`).
#[cfg(target_os = "linux")]
const VMLINUX_DIR: &str = "../bpf/src/vmlinux";

fn main() {
    println!("cargo:rerun-if-changed={BPF_SOURCE}");
    for header in BPF_HEADERS {
        println!("cargo:rerun-if-changed={header}");
    }
    println!("cargo:rerun-if-changed=build_contract.rs");
    println!("cargo:rerun-if-env-changed=FALCO_VMLINUX_H");
    if let Err(msg) = contract_gen::generate(BPF_HEADERS[0]) {
        eprintln!(
            "error: generating the kernel contract from {}: {msg}",
            BPF_HEADERS[0]
        );
        std::process::exit(1);
    }
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    if let Err(msg) = build_skeleton() {
        eprintln!("error: building the eBPF probe failed: {msg}");
        std::process::exit(1);
    }
}

// libbpf-cargo is a build dependency of Linux targets only; build scripts
// run on the host, so this assumes host and target agree (no cross builds
// of the sensor from another OS).
#[cfg(not(target_os = "linux"))]
fn build_skeleton() -> Result<(), String> {
    Err("the eBPF probe can only be built on a Linux host".into())
}

#[cfg(target_os = "linux")]
fn build_skeleton() -> Result<(), String> {
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?);
    let include_dir = out_dir.join("bpf-include");
    std::fs::create_dir_all(&include_dir)
        .map_err(|e| format!("creating {}: {e}", include_dir.display()))?;

    // (clang's __TARGET_ARCH_ name, directory under bpf/src/vmlinux/)
    let (arch, arch_dir) = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => ("x86", "x86_64"),
        Ok("aarch64") => ("arm64", "arm64"),
        Ok(other) => {
            return Err(format!(
                "unsupported target architecture `{other}` for the eBPF probe"
            ));
        }
        Err(e) => return Err(format!("CARGO_CFG_TARGET_ARCH: {e}")),
    };
    provide_vmlinux_h(&include_dir.join("vmlinux.h"), arch_dir)?;
    let skel = out_dir.join("sensor.skel.rs");
    libbpf_cargo::SkeletonBuilder::new()
        .source(BPF_SOURCE)
        // Kept next to the skeleton (which embeds it) for inspection.
        .obj(out_dir.join("sensor.bpf.o"))
        .clang_args([
            format!("-I{}", include_dir.display()),
            format!("-D__TARGET_ARCH_{arch}"),
            "-Wall".to_string(),
            "-Wno-unused-function".to_string(),
        ])
        .build_and_generate(&skel)
        .map_err(|e| {
            format!(
                "compiling {BPF_SOURCE} with clang failed (is `clang` installed? Debian: apt-get install clang): {e:#}"
            )
        })?;
    Ok(())
}

#[cfg(target_os = "linux")]
/// Puts the kernel type header in `dst`: the file named by FALCO_VMLINUX_H
/// when set (another kernel's types, a new architecture), else the one
/// vendored for the target architecture under `bpf/src/vmlinux/` (see its
/// README), so the build does not depend on the build machine's kernel.
fn provide_vmlinux_h(dst: &Path, arch_dir: &str) -> Result<(), String> {
    let src = match env::var("FALCO_VMLINUX_H") {
        Ok(given) => PathBuf::from(given),
        Err(_) => PathBuf::from(format!("{VMLINUX_DIR}/{arch_dir}/vmlinux.h")),
    };
    println!("cargo:rerun-if-changed={}", src.display());
    std::fs::copy(&src, dst).map(|_| ()).map_err(|e| {
        format!(
            "cannot copy {}: {e} (set FALCO_VMLINUX_H to a vmlinux.h made with `bpftool btf dump file /sys/kernel/btf/vmlinux format c`)",
            src.display()
        )
    })
}
