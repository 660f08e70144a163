//! Checks that the kernel and our privileges can run the probes, before
//! touching libbpf, so failures come with a message saying what is missing
//! and how to check it.

use super::ProbeError;
use std::path::Path;

/// Oldest kernel the probes load on: ring buffers and CAP_BPF arrived in 5.8,
/// `bpf_task_pt_regs` in 5.15 and `bpf_loop` (used for the bounded path and
/// cgroup walks) in 5.17.
pub const MIN_KERNEL: (u32, u32) = (5, 17);
/// The kernel's own BTF, needed for CO-RE relocations and tp_btf programs.
pub const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// What preflight found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelInfo {
    /// `uname -r`.
    pub release: String,
    /// Major and minor version parsed from the release.
    pub version: (u32, u32),
    /// Effective capability mask of this process.
    pub cap_effective: u64,
}

/// Verifies kernel version, BTF and capabilities.
pub fn preflight() -> Result<KernelInfo, ProbeError> {
    if !cfg!(target_os = "linux") {
        return Err(ProbeError::NotLinux(std::env::consts::OS));
    }
    let release = kernel_release()?;
    let version = parse_kernel_version(&release).ok_or_else(|| ProbeError::KernelVersion {
        release: release.clone(),
    })?;
    if version < MIN_KERNEL {
        return Err(ProbeError::KernelTooOld {
            release,
            need: MIN_KERNEL,
        });
    }
    if !Path::new(BTF_PATH).exists() {
        return Err(ProbeError::NoBtf { path: BTF_PATH });
    }
    let status = std::fs::read_to_string("/proc/self/status").map_err(|source| ProbeError::Io {
        what: "reading /proc/self/status",
        source,
    })?;
    let cap_effective = parse_cap_eff(&status).ok_or(ProbeError::Io {
        what: "parsing CapEff in /proc/self/status",
        source: std::io::Error::from(std::io::ErrorKind::InvalidData),
    })?;
    check_caps(cap_effective)?;
    Ok(KernelInfo {
        release,
        version,
        cap_effective,
    })
}

fn kernel_release() -> Result<String, ProbeError> {
    // SAFETY: utsname is plain old data; zeroed is a valid value and uname
    // fills it in place.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return Err(ProbeError::Io {
            what: "uname",
            source: std::io::Error::last_os_error(),
        });
    }
    let bytes: Vec<u8> = uts
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// "6.18.44-fc" → (6, 18).
pub fn parse_kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// The CapEff mask from /proc/<pid>/status text.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

/// Loading and attaching tracing programs needs CAP_BPF + CAP_PERFMON, or
/// CAP_SYS_ADMIN on its own.
pub fn check_caps(cap_effective: u64) -> Result<(), ProbeError> {
    let has = |cap: u32| cap_effective & (1u64 << cap) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        return Ok(());
    }
    let missing = match (has(CAP_BPF), has(CAP_PERFMON)) {
        (false, false) => "CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)",
        (false, true) => "CAP_BPF (or CAP_SYS_ADMIN)",
        _ => "CAP_PERFMON (or CAP_SYS_ADMIN)",
    };
    Err(ProbeError::MissingCapabilities {
        missing,
        cap_effective,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_versions() {
        assert_eq!(parse_kernel_version("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(parse_kernel_version("5.4.0-150-generic"), Some((5, 4)));
        assert_eq!(parse_kernel_version("garbage"), None);
    }

    #[test]
    fn parses_cap_eff() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
        assert_eq!(parse_cap_eff("Name: x\n"), None);
    }

    #[test]
    fn capability_rules() {
        assert!(check_caps(1 << CAP_SYS_ADMIN).is_ok());
        assert!(check_caps((1 << CAP_BPF) | (1 << CAP_PERFMON)).is_ok());
        let err = check_caps(1 << CAP_BPF).unwrap_err().to_string();
        assert!(err.contains("CAP_PERFMON"), "{err}");
        assert!(err.contains("grep Cap /proc/self/status"), "{err}");
        let err = check_caps(0).unwrap_err().to_string();
        assert!(err.contains("CAP_BPF and CAP_PERFMON"), "{err}");
    }
}
