//! Compiles the CO-RE eBPF programs in `bpf/src/` into a libbpf-rs skeleton
//! (written to OUT_DIR, never committed). Only Linux builds need clang and
//! bpftool; other targets compile the library without the probe.

use std::env;
#[cfg(target_os = "linux")]
use std::path::{Path, PathBuf};
#[cfg(target_os = "linux")]
use std::process::Command;

const BPF_SOURCE: &str = "../bpf/src/sensor.bpf.c";
const BPF_HEADERS: &[&str] = &[
    "../bpf/src/sensor.h",
    "../bpf/src/helpers.bpf.h",
    "../bpf/src/per_syscall.bpf.h",
];

fn main() {
    println!("cargo:rerun-if-changed={BPF_SOURCE}");
    for header in BPF_HEADERS {
        println!("cargo:rerun-if-changed={header}");
    }
    println!("cargo:rerun-if-env-changed=FALCO_VMLINUX_H");
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
    provide_vmlinux_h(&include_dir.join("vmlinux.h"))?;

    let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => {
            return Err(format!(
                "unsupported target architecture `{other}` for the eBPF probe"
            ));
        }
        Err(e) => return Err(format!("CARGO_CFG_TARGET_ARCH: {e}")),
    };
    let skel = out_dir.join("sensor.skel.rs");
    libbpf_cargo::SkeletonBuilder::new()
        .source(BPF_SOURCE)
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
/// Writes `vmlinux.h` from the running kernel's BTF, or copies the file named
/// by FALCO_VMLINUX_H (cross builds, build hosts without BTF).
fn provide_vmlinux_h(dst: &Path) -> Result<(), String> {
    if let Ok(given) = env::var("FALCO_VMLINUX_H") {
        println!("cargo:rerun-if-changed={given}");
        std::fs::copy(&given, dst)
            .map_err(|e| format!("FALCO_VMLINUX_H={given}: cannot copy it: {e}"))?;
        return Ok(());
    }
    let btf = Path::new("/sys/kernel/btf/vmlinux");
    if !btf.exists() {
        return Err(format!(
            "{} is missing: this kernel has no BTF; set FALCO_VMLINUX_H to a vmlinux.h generated on a BTF kernel",
            btf.display()
        ));
    }
    let output = Command::new("bpftool")
        .args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"])
        .output()
        .map_err(|e| {
            format!(
                "running `bpftool` failed ({e}): install it (Debian: apt-get install bpftool) or set FALCO_VMLINUX_H"
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "`bpftool btf dump file /sys/kernel/btf/vmlinux format c` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    std::fs::write(dst, &output.stdout).map_err(|e| format!("writing {}: {e}", dst.display()))
}
