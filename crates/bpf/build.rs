//! Compiles the BPF objects with clang into OUT_DIR (embedded by src/programs.rs and
//! src/calls.rs): bpf/payload.bpf.c (payload heads beside ftrace) and bpf/calls.bpf.c (the
//! BPF backend's socket-call records). Needs clang and libbpf's headers (Debian: clang,
//! libbpf-dev; scripts/setup.sh installs them).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => other.to_string().leak(),
        Err(_) => "x86",
    };
    for header in ["bpf/kernel.h", "bpf/common.h"] {
        println!("cargo:rerun-if-changed={header}");
    }
    for name in ["payload", "calls"] {
        let source = format!("bpf/{name}.bpf.c");
        println!("cargo:rerun-if-changed={source}");
        let status = Command::new(std::env::var("CLANG").unwrap_or_else(|_| "clang".into()))
            .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"])
            .arg(format!("-D__TARGET_ARCH_{arch}"))
            .args(["-Ibpf", "-c", &source, "-o"])
            .arg(out.join(format!("{name}.bpf.o")))
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("clang failed to compile {source} ({s}); see its messages above"),
            Err(e) => panic!(
                "cannot run clang ({e}): install clang and libbpf-dev (bash scripts/setup.sh does)"
            ),
        }
    }
}
