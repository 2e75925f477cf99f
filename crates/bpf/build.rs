//! Compiles bpf/payload.bpf.c with clang into OUT_DIR/payload.bpf.o (embedded by
//! src/programs.rs). Needs clang and libbpf's headers (Debian: clang, libbpf-dev;
//! scripts/setup.sh installs them).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out.join("payload.bpf.o");
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => other.to_string().leak(),
        Err(_) => "x86",
    };
    println!("cargo:rerun-if-changed=bpf/payload.bpf.c");
    println!("cargo:rerun-if-changed=bpf/kernel.h");
    let status = Command::new(std::env::var("CLANG").unwrap_or_else(|_| "clang".into()))
        .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"])
        .arg(format!("-D__TARGET_ARCH_{arch}"))
        .args(["-Ibpf", "-c", "bpf/payload.bpf.c", "-o"])
        .arg(&object)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("clang failed to compile bpf/payload.bpf.c ({s}); see its messages above"),
        Err(e) => panic!(
            "cannot run clang ({e}): install clang and libbpf-dev (bash scripts/setup.sh does)"
        ),
    }
}
