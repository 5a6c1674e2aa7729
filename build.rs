//! Generates include/kano_tokenizer.h from src/ffi with cbindgen. The header is committed; CI
//! regenerates it and fails if it changed.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.lock");
    export_dependency_versions();
    set_soname();
    #[cfg(feature = "ffi")]
    write_header();
}

/// include/kano_tokenizer.h from src/ffi (the `ffi` feature).
#[cfg(feature = "ffi")]
fn write_header() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml is valid");
    let version = |part: &str| std::env::var(format!("CARGO_PKG_VERSION_{part}")).expect("cargo sets the version");
    config.after_includes = Some(format!(
        "\n#define KANO_VERSION_MAJOR {}\n#define KANO_VERSION_MINOR {}\n#define KANO_VERSION_PATCH {}\n",
        version("MAJOR"),
        version("MINOR"),
        version("PATCH")
    ));
    // Only src/ffi is parsed: the core's public constants are not part of the C ABI.
    let mut builder = cbindgen::Builder::new().with_config(config);
    for file in ["error.rs", "process.rs", "registry.rs", "adapter.rs", "budget.rs", "chat.rs", "counter.rs"] {
        builder = builder.with_src(crate_dir.join("src").join("ffi").join(file));
    }
    let bindings = builder.generate().expect("cbindgen can read src/ffi");

    let header = crate_dir.join("include").join("kano_tokenizer.h");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    // Rewrite only on change, so the header's timestamp does not trigger rebuilds downstream.
    if std::fs::read(&header).ok().as_deref() != Some(generated.as_slice()) {
        std::fs::create_dir_all(header.parent().expect("include/ has a parent")).expect("create include/");
        std::fs::write(&header, generated).expect("write include/kano_tokenizer.h");
    }
}

/// Exposes the locked versions of the tokenizer dependencies to the crate (for `dependencies`
/// reports), as `KANO_DEP_TIKTOKEN_RS` and `KANO_DEP_TOKENIZERS`.
fn export_dependency_versions() {
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    for (package, var) in [("tiktoken-rs", "KANO_DEP_TIKTOKEN_RS"), ("tokenizers", "KANO_DEP_TOKENIZERS")] {
        let needle = format!("name = \"{package}\"\nversion = \"");
        let version =
            lock.find(&needle).and_then(|at| lock[at + needle.len()..].split('"').next()).unwrap_or("unknown");
        println!("cargo:rustc-env={var}={version}");
    }
}

/// Gives the shared library the SONAME `libkano_tokenizer.so.MAJOR` on Linux, so programs linked
/// against it load any later release with the same major version (`make install` creates the
/// `libkano_tokenizer.so.MAJOR` file and the `libkano_tokenizer.so` link).
///
/// A plain `cargo build` leaves only `libkano_tokenizer.so`, so a program linked against it
/// would look for `libkano_tokenizer.so.MAJOR` in vain: the link is made here too, next to the
/// library (the profile's directory, three levels above `OUT_DIR`). It is the one file this
/// script writes outside `OUT_DIR` and `include/`, and it only points at cargo's own output.
fn set_soname() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    let soname = format!("libkano_tokenizer.so.{major}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    if let Some(profile_dir) = out_dir.ancestors().nth(3) {
        let link = profile_dir.join(&soname);
        if std::fs::read_link(&link).ok().as_deref() != Some(std::path::Path::new("libkano_tokenizer.so")) {
            let _ = std::fs::remove_file(&link);
            // A failure leaves the build as it was before this link existed: `make build`
            // makes it too.
            #[cfg(unix)]
            let _ = std::os::unix::fs::symlink("libkano_tokenizer.so", &link);
        }
    }
}
