//! `make package` timed against the way it built before: SAM's `rust-cargolambda`
//! build method, which runs one `cargo lambda build --release --arm64 --bin <function>`
//! per function. Both build the same sources (the clone's tracked and untracked,
//! unignored files, copied twice) from a cold cargo target folder, one after the other
//! on this machine, in this run: the figures are comparable where absolute times are
//! not. The one-build way goes first, so any warming of the machine's caches favours
//! the other.
//!
//! Each build's six bootstraps are checked to be arm64 ELF executables, and the zipped
//! size of each is measured from the one-build way's, zipped as `sam deploy` zips.

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The template's build method before issue 18, and the one `make package` uses now.
const PER_FUNCTION_METHOD: &str = "BuildMethod: rust-cargolambda";
const ONE_BUILD_METHOD: &str = "BuildMethod: makefile";

/// `e_machine` of an AArch64 ELF file (at byte 18, little-endian).
const EM_AARCH64: u16 = 183;

/// Two cold `sam build`s of the template, side by side.
#[derive(Debug, Clone, Serialize)]
pub struct PackageTiming {
    /// Seconds for SAM's `rust-cargolambda` method: one cargo-lambda run per function.
    pub per_function_seconds: f64,
    /// Seconds for `make package`'s way: SAM's makefile method, one cargo-lambda run
    /// for all functions.
    pub one_build_seconds: f64,
    /// Zipped size (bytes) of each function's arm64 bootstrap, by logical id.
    pub zip_bytes: BTreeMap<String, u64>,
}

/// Builds the template both ways in `scratch` (created, and removed afterwards) and
/// times them.
///
/// Errors: a source copy that fails, a `sam build` that fails (its output is shown as
/// it runs), or a function whose bootstrap is missing or not an arm64 executable.
///
/// `scratch` must not exist, or be a folder an earlier run made (it holds
/// [`MARKER`]): nothing else is ever deleted.
pub fn run(repo: &Path, scratch: &Path, functions: &[&str]) -> Result<PackageTiming> {
    check_scratch(scratch)?;
    if scratch.exists() {
        std::fs::remove_dir_all(scratch)
            .with_context(|| format!("clearing {}", scratch.display()))?;
    }
    std::fs::create_dir_all(scratch)?;
    std::fs::write(
        scratch.join(MARKER),
        "made by crosspost bench; removed after it\n",
    )?;
    let result = build_both(repo, scratch, functions);
    let _ = std::fs::remove_dir_all(scratch);
    result
}

/// Checks that [`run`] may use `scratch`: it is a folder an earlier run made (it holds
/// [`MARKER`]), or it does not exist and can be made (it is made and removed again;
/// folders above it that were missing stay).
///
/// Errors: `scratch` exists and is a file, or a folder without the marker; or it
/// cannot be made.
pub fn check_scratch(scratch: &Path) -> Result<()> {
    if scratch.symlink_metadata().is_ok() {
        if !scratch.join(MARKER).is_file() {
            bail!(
                "--package-scratch {} exists and was not made by the package timing; name a new folder",
                scratch.display()
            );
        }
        return Ok(());
    }
    std::fs::create_dir_all(scratch)
        .with_context(|| format!("--package-scratch {}: cannot be made", scratch.display()))?;
    let _ = std::fs::remove_dir(scratch);
    Ok(())
}

/// The file that marks a scratch folder as the package timing's own.
const MARKER: &str = ".crosspost-package-bench";

fn build_both(repo: &Path, scratch: &Path, functions: &[&str]) -> Result<PackageTiming> {
    let one = scratch.join("one-build");
    let per = scratch.join("per-function");
    let sources = list_sources(repo, scratch)?;
    copy_sources(repo, &sources, &one)?;
    copy_sources(repo, &sources, &per)?;
    let template = std::fs::read_to_string(per.join("template.yaml"))?;
    if !template.contains(ONE_BUILD_METHOD) {
        bail!("template.yaml has no `{ONE_BUILD_METHOD}`: nothing to compare");
    }
    std::fs::write(
        per.join("template.yaml"),
        template.replace(ONE_BUILD_METHOD, PER_FUNCTION_METHOD),
    )?;

    eprintln!("bench: make package's way (one cargo-lambda run), cold");
    // As `make package` runs it, with a fresh target folder.
    let one_build_seconds = timed(
        Command::new("sam")
            .args([
                "build",
                "--build-in-source",
                "--template-file",
                "template.yaml",
            ])
            .current_dir(&one)
            .env("CARGO_TARGET_DIR", one.join("cargo-target"))
            // A compiler cache would favour the second build.
            .env_remove("RUSTC_WRAPPER"),
    )?;
    check_bootstraps(&one, functions)?;
    // The bootstraps are copied out; the target folder's gigabytes can go now.
    let _ = std::fs::remove_dir_all(one.join("cargo-target"));

    eprintln!("bench: the way before (one cargo-lambda run per function), cold");
    // As the Makefile ran it before: cargo-lambda builds into the source's ./target,
    // where SAM's rust-cargolambda method looks for each bootstrap.
    let per_function_seconds = timed(
        Command::new("sam")
            .args([
                "build",
                "--beta-features",
                "--template-file",
                "template.yaml",
            ])
            .current_dir(&per)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTC_WRAPPER"),
    )?;
    check_bootstraps(&per, functions)?;

    Ok(PackageTiming {
        per_function_seconds,
        one_build_seconds,
        zip_bytes: super::zip_sizes(&one.join(".aws-sam/build")),
    })
}

/// The clone's files that git would commit (tracked, or untracked and not ignored),
/// relative to `repo`, leaving out anything under `scratch`.
fn list_sources(repo: &Path, scratch: &Path) -> Result<Vec<PathBuf>> {
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(repo)
        .output()
        .context("running git ls-files")?;
    if !listed.status.success() {
        bail!("git ls-files failed in {}", repo.display());
    }
    let scratch = scratch.canonicalize()?;
    let mut sources = Vec::new();
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).context("a file name that is not UTF-8")?;
        let from = repo.join(name);
        // A tracked file deleted in the work tree is not part of these sources.
        if !from.is_file() || from.canonicalize()?.starts_with(&scratch) {
            continue;
        }
        sources.push(PathBuf::from(name));
    }
    Ok(sources)
}

/// Copies `sources` (relative to `repo`) into `to`.
fn copy_sources(repo: &Path, sources: &[PathBuf], to: &Path) -> Result<()> {
    for name in sources {
        let (from, dest) = (repo.join(name), to.join(name));
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&from, &dest)
            .with_context(|| format!("copying {} to {}", from.display(), dest.display()))?;
    }
    Ok(())
}

/// Runs `cmd` to the end, its output shown, and returns its wall-clock seconds.
fn timed(cmd: &mut Command) -> Result<f64> {
    let started = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Every function has an arm64 ELF bootstrap under `<dir>/.aws-sam/build/<id>/`.
fn check_bootstraps(dir: &Path, functions: &[&str]) -> Result<()> {
    for id in functions {
        let path: PathBuf = dir.join(".aws-sam/build").join(id).join("bootstrap");
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let machine = bytes
            .get(18..20)
            .filter(|_| bytes.starts_with(b"\x7fELF"))
            .map(|m| u16::from_le_bytes([m[0], m[1]]))
            .ok_or_else(|| anyhow!("{} is not an ELF file", path.display()))?;
        if machine != EM_AARCH64 {
            bail!(
                "{} is built for machine {machine}, not arm64",
                path.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_folder_it_did_not_make_is_never_deleted() {
        let dir = std::env::temp_dir().join(format!("crosspost-scratch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("precious.txt"), "keep me").unwrap();
        let err = run(Path::new("."), &dir, &["WebhookFunction"]).unwrap_err();
        assert!(err.to_string().contains("not made by"), "{err}");
        assert!(dir.join("precious.txt").is_file());
        // The bench asks the same before it measures anything; a file is no folder.
        assert!(check_scratch(&dir).is_err());
        let file = dir.join("precious.txt");
        let err = check_scratch(&file).unwrap_err();
        assert!(err.to_string().contains("--package-scratch"), "{err}");
        check_scratch(&dir.join("new")).unwrap();
        assert!(!dir.join("new").exists());
        let under_a_file = check_scratch(&file.join("new")).unwrap_err();
        assert!(
            under_a_file.to_string().contains("cannot be made"),
            "{under_a_file}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bootstrap_built_for_another_machine_is_refused() {
        let dir = std::env::temp_dir().join(format!("crosspost-pkg-{}", std::process::id()));
        let fn_dir = dir.join(".aws-sam/build/WebhookFunction");
        std::fs::create_dir_all(&fn_dir).unwrap();
        let mut elf = b"\x7fELF".to_vec();
        elf.resize(64, 0);
        // x86-64 is 62.
        elf[18] = 62;
        std::fs::write(fn_dir.join("bootstrap"), &elf).unwrap();
        let err = check_bootstraps(&dir, &["WebhookFunction"]).unwrap_err();
        assert!(err.to_string().contains("not arm64"), "{err}");
        elf[18] = EM_AARCH64 as u8;
        std::fs::write(fn_dir.join("bootstrap"), &elf).unwrap();
        check_bootstraps(&dir, &["WebhookFunction"]).unwrap();
        let missing = check_bootstraps(&dir, &["NotifyFunction"]).unwrap_err();
        assert!(missing.to_string().contains("NotifyFunction"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
