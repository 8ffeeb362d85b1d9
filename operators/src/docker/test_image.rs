//! The image the Docker tests run, made by the tests themselves from what
//! this machine already has: no registry is reachable, and nothing may be
//! downloaded while tests run. The root filesystem holds the host's own
//! `sh` and a few core utilities with the shared libraries `ldd` names for
//! them (or a static `busybox` when the host has one), and is imported with
//! `docker import` once per machine; later runs find it by its tag.
//!
//! Shared by the operator's tests and the CLI's (`#[path]` include): std
//! only, and each of the two uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The tag; bump the version when the contents change.
pub const TEST_IMAGE: &str = "updraft-test-base:1";

/// What the tests call inside the container.
const PROGRAMS: &[&str] = &[
    "sh", "sleep", "ls", "true", "false", "cat", "echo", "id", "env", "pwd", "printf", "mkdir", "touch", "rm", "wc",
    "head", "tail", "date", "grep", "sed", "kill", "seq", "test",
];

/// Whether a Docker engine answers through the `docker` CLI.
pub fn engine_answers() -> bool {
    Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure [`TEST_IMAGE`] exists, building it when missing. Err says
/// why it could not be built (the caller fails or skips).
pub fn ensure_test_image() -> Result<(), String> {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if *built || image_exists() {
        *built = true;
        return Ok(());
    }
    let root = std::env::temp_dir().join(format!("updraft-test-image-{}", std::process::id()));
    let result = build_root(&root).and_then(|()| import(&root, TEST_IMAGE));
    let _ = std::fs::remove_dir_all(&root);
    result?;
    *built = true;
    Ok(())
}

fn image_exists() -> bool {
    Command::new("docker")
        .args(["image", "inspect", TEST_IMAGE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Builds `tag` from this machine's `programs` (found on `PATH`, copied to
/// `/bin` with the libraries `ldd` names for them) and the libraries of
/// `binaries`, which are not copied: the caller mounts them when it runs a
/// container (a test binary changes with every build; the image need not).
/// Replaces an image of that tag. Err says why it could not be built.
pub fn build_image(tag: &str, programs: &[&str], binaries: &[&Path]) -> Result<(), String> {
    let root = std::env::temp_dir().join(format!(
        "updraft-test-image-{}-{}",
        std::process::id(),
        tag.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    ));
    let result = (|| {
        base_root(&root)?;
        copy_programs(&root, programs)?;
        for binary in binaries {
            copy_libraries(&root, binary)?;
        }
        import(&root, tag)
    })();
    let _ = std::fs::remove_dir_all(&root);
    result
}

/// The folders and files every test image has.
fn base_root(root: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(root);
    for dir in ["bin", "tmp", "etc", "root", "work"] {
        std::fs::create_dir_all(root.join(dir)).map_err(|e| format!("creating {}: {e}", root.display()))?;
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(root.join("etc/group"), "root:x:0:\n").map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).map_err(|e| e.to_string())
}

fn build_root(root: &Path) -> Result<(), String> {
    base_root(root)?;
    if let Some(busybox) = find_program("busybox").filter(|p| libraries(p).is_ok_and(|l| l.is_empty())) {
        copy(&busybox, &root.join("bin/busybox"))?;
        for name in PROGRAMS {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(name)).map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    copy_programs(root, PROGRAMS)
}

/// Copies each of `programs` to `/bin` with its libraries.
fn copy_programs(root: &Path, programs: &[&str]) -> Result<(), String> {
    for name in programs {
        let program = find_program(name).ok_or_else(|| format!("`{name}` is not on this machine's PATH"))?;
        copy(&program, &root.join("bin").join(name))?;
        copy_libraries(root, &program)?;
    }
    Ok(())
}

/// Copies the libraries `ldd` names for `program` to their own paths.
fn copy_libraries(root: &Path, program: &Path) -> Result<(), String> {
    for lib in libraries(program)? {
        let inside = root.join(lib.strip_prefix("/").unwrap_or(&lib));
        if !inside.exists() {
            copy(&lib, &inside)?;
        }
    }
    Ok(())
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok())
}

/// The shared libraries (and loader) `ldd` lists for `program`, by their
/// absolute paths; empty for a static program.
fn libraries(program: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("ldd")
        .arg(program)
        .output()
        .map_err(|e| format!("running ldd (needed to copy {}'s libraries): {e}", program.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.contains("not a dynamic executable") {
        return Ok(Vec::new());
    }
    Ok(text
        .lines()
        .filter_map(|l| {
            let path = match l.split_once("=>") {
                Some((_, after)) => after.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// Copies the file `from` points at (links followed) to `to`, keeping its mode.
fn copy(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copying {} into the image: {e}", from.display()))
}

fn import(root: &Path, tag: &str) -> Result<(), String> {
    let mut tar = Command::new("tar")
        .args(["-C"])
        .arg(root)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running tar: {e}"))?;
    let stdout = tar.stdout.take().expect("piped");
    let out = Command::new("docker")
        .args(["import", "-c", "ENV PATH=/bin", "-c", "CMD [\"/bin/sh\"]", "-", tag])
        .stdin(stdout)
        .output()
        .map_err(|e| format!("running docker import: {e}"))?;
    let tar_ok = tar.wait().is_ok_and(|s| s.success());
    if !out.status.success() || !tar_ok {
        return Err(format!(
            "docker import of {tag} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}
