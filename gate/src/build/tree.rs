//! The source a build compiles, kept with git.
//!
//! SRC_DIR is a git work tree. A build compiles [`Source::commit`]: its HEAD
//! plus the uncommitted changes to tracked files (the commit `git stash
//! create` makes without touching the work tree, the index or a ref), with the
//! series applied by `git apply --cached` into a private index, so that the
//! patched source is named by one tree id before a file is written.
//!
//! The slot's work tree is a `git clone --shared` of SRC_DIR (it reads
//! SRC_DIR's objects and writes its own). `git read-tree --reset -u` moves it
//! to the patched tree, rewriting only the files that differ from the last
//! build's: make's timestamps then rebuild exactly what they feed.

use super::patches::PatchFile;
use super::BuildError;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Who the commits `git stash create` makes are by. They stay in SRC_DIR's
/// object store, unreferenced, and are never published.
const IDENTITY: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "ringspec gate"),
    ("GIT_AUTHOR_EMAIL", "ringspec-gate@localhost"),
    ("GIT_COMMITTER_NAME", "ringspec gate"),
    ("GIT_COMMITTER_EMAIL", "ringspec-gate@localhost"),
];

/// `git -C dir`, unaffected by the caller's GIT_DIR, GIT_WORK_TREE and
/// GIT_INDEX_FILE, never prompting.
fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd`; its standard output, trimmed, when it exits 0.
fn output(mut cmd: Command) -> Result<String, BuildError> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| BuildError::Git {
        command: shown.clone(),
        output: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(BuildError::Git {
            command: shown,
            output: format!(
                "{} ({})",
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                )
                .trim_end(),
                out.status
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// What SRC_DIR holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The commit to build: HEAD, or the `git stash create` commit of HEAD
    /// and the uncommitted changes to tracked files.
    pub commit: String,
    /// True when [`Source::commit`] carries uncommitted changes.
    pub dirty: bool,
    /// Untracked files that are not ignored: not built.
    pub untracked: usize,
}

/// Reads SRC_DIR's state (canonical path). A directory that is not the top of
/// a git work tree with a commit is a bad source.
pub fn source(src: &Path) -> Result<Source, BuildError> {
    let not_git = || {
        BuildError::BadSource(format!(
            "{} is not the top of a git work tree with a commit; import one once with \
             `git init -q && git add -f -A && git commit -qm import` \
             (scripts/build-gate-kernel.sh does this for Debian's source)",
            src.display()
        ))
    };
    let mut top = git(src);
    top.args(["rev-parse", "--show-toplevel"]);
    let top = output(top).map_err(|_| not_git())?;
    if std::fs::canonicalize(&top).ok().as_deref() != Some(src) {
        return Err(not_git());
    }
    let mut head = git(src);
    head.args(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]);
    let head = output(head).map_err(|_| not_git())?;
    let mut stash = git(src);
    stash.args(["stash", "create"]).envs(IDENTITY);
    let stash = output(stash)?;
    let mut others = git(src);
    others.args(["ls-files", "-z", "--others", "--exclude-standard"]);
    let untracked = output(others)?
        .split('\0')
        .filter(|p| !p.is_empty())
        .count();
    Ok(Source {
        dirty: !stash.is_empty(),
        commit: if stash.is_empty() { head } else { stash },
        untracked,
    })
}

/// Makes `tree` a shared clone of `src` with no files checked out yet
/// (whatever was at `tree` is removed first).
pub fn clone(src: &Path, tree: &Path) -> Result<(), BuildError> {
    if tree.exists() {
        std::fs::remove_dir_all(tree).map_err(|e| BuildError::io(tree, e))?;
    }
    let parent = tree.parent().unwrap_or(Path::new("/"));
    let mut clone = git(parent);
    clone
        .args(["clone", "--quiet", "--shared", "--no-checkout"])
        .arg(src)
        .arg(tree);
    output(clone)?;
    // The clone's own objects are few; never spend the build's time packing.
    let mut quiet = git(tree);
    quiet.args(["config", "gc.auto", "0"]);
    output(quiet).map(drop)
}

/// True when `tree` is a clone [`clone`] made (a git work tree of its own).
pub fn is_clone(tree: &Path) -> bool {
    tree.join(".git").is_dir()
}

/// The id of `commit`'s tree with `patches` applied in order (`git apply
/// --cached` into `index`, a scratch index file; the work tree is not
/// touched). A patch that does not apply exactly is [`BuildError::PatchFailed`].
pub fn patched_tree(
    tree: &Path,
    index: &Path,
    commit: &str,
    patches: &[PatchFile],
) -> Result<String, BuildError> {
    let with_index = |args: &[&str]| {
        let mut cmd = git(tree);
        cmd.env("GIT_INDEX_FILE", index).args(args);
        cmd
    };
    output(with_index(&["read-tree", commit]))?;
    for p in patches {
        let mut apply = with_index(&["apply", "--cached", "--whitespace=nowarn"]);
        apply.arg(&p.path);
        output(apply).map_err(|e| match e {
            BuildError::Git { output, .. } => BuildError::PatchFailed {
                patch: p.path.display().to_string(),
                output,
            },
            e => e,
        })?;
    }
    output(with_index(&["write-tree"]))
}

/// Checks `tree_id` out in the work tree `tree`: files that differ from what
/// is there are rewritten (fresh mtimes), the others are left alone, and
/// anything untracked is removed.
pub fn check_out(tree: &Path, tree_id: &str) -> Result<(), BuildError> {
    let mut read = git(tree);
    read.args(["read-tree", "--reset", "-u", tree_id]);
    output(read)?;
    let mut clean = git(tree);
    clean.args(["clean", "-q", "-f", "-d", "-x"]);
    output(clean).map(drop)
}

/// The paths that differ between two trees of `tree`'s repository.
pub fn changed_paths(tree: &Path, from: &str, to: &str) -> Result<Vec<String>, BuildError> {
    let mut diff = git(tree);
    diff.args(["diff", "--name-only", "-z", "--no-renames", from, to]);
    Ok(output(diff)?
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect())
}

/// git's blob ids of `files`' contents, in order (`git hash-object`): what
/// the cache compares fragments by.
pub fn content_ids(files: &[PathBuf]) -> Result<Vec<String>, BuildError> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let mut hash = Command::new("git");
    hash.arg("hash-object")
        .arg("--no-filters")
        .arg("--")
        .args(files)
        .stdin(Stdio::null());
    Ok(output(hash)?.lines().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    /// A scratch directory removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("ringspec-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(std::fs::canonicalize(&dir).unwrap())
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn run(dir: &Path, args: &[&str]) -> String {
        let mut cmd = git(dir);
        cmd.args(args).envs(IDENTITY);
        output(cmd).unwrap()
    }

    /// A repository with fs/a.c, fs/b.c and Kconfig committed.
    fn repository(dir: &Path) {
        std::fs::create_dir_all(dir.join("fs")).unwrap();
        std::fs::write(dir.join("fs/a.c"), "one\ntwo\n").unwrap();
        std::fs::write(dir.join("fs/b.c"), "b\n").unwrap();
        std::fs::write(dir.join("Kconfig"), "config X\n").unwrap();
        run(dir, &["init", "-q"]);
        run(dir, &["add", "-A"]);
        run(dir, &["commit", "-q", "-m", "base"]);
    }

    fn patch(dir: &Path, name: &str, text: &str) -> PatchFile {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        PatchFile {
            path,
            name: name.to_string(),
        }
    }

    const A_PATCH: &str = "diff --git a/fs/a.c b/fs/a.c\n--- a/fs/a.c\n+++ b/fs/a.c\n\
                           @@ -1,2 +1,2 @@\n one\n-two\n+three\n";
    const NEW_FILE: &str = "diff --git a/fs/new.c b/fs/new.c\nnew file mode 100644\n\
                            --- /dev/null\n+++ b/fs/new.c\n@@ -0,0 +1 @@\n+new\n";

    #[test]
    fn a_source_is_its_head_plus_uncommitted_changes() {
        let base = Scratch::new("source");
        let src = base.0.join("linux");
        std::fs::create_dir_all(&src).unwrap();
        assert!(matches!(source(&src), Err(BuildError::BadSource(_))));
        repository(&src);
        let head = run(&src, &["rev-parse", "HEAD"]);
        let clean = source(&src).unwrap();
        assert_eq!((clean.commit.as_str(), clean.dirty), (head.as_str(), false));
        // Not the top of the work tree.
        let e = source(&src.join("fs")).unwrap_err();
        assert!(
            e.to_string().contains("not the top of a git work tree"),
            "{e}"
        );
        // An edit is built; an untracked file is counted, not built.
        std::fs::write(src.join("fs/b.c"), "edited\n").unwrap();
        std::fs::write(src.join("fs/stray.c"), "x\n").unwrap();
        let status = run(&src, &["status", "--porcelain"]);
        let dirty = source(&src).unwrap();
        assert!(dirty.dirty);
        assert_ne!(dirty.commit, head);
        assert_eq!(dirty.untracked, 1);
        let tree = run(&src, &["rev-parse", &format!("{}:fs/b.c", dirty.commit)]);
        assert_eq!(tree, run(&src, &["hash-object", "fs/b.c"]));
        // SRC_DIR is left as it was: same HEAD, same status, no stash entry.
        assert_eq!(run(&src, &["rev-parse", "HEAD"]), head);
        assert_eq!(run(&src, &["status", "--porcelain"]), status);
        assert_eq!(run(&src, &["stash", "list"]), "");
    }

    #[test]
    fn the_work_tree_moves_to_each_patched_tree_rewriting_only_what_differs() {
        let base = Scratch::new("worktree");
        let (src, work, index) = (
            base.0.join("linux"),
            base.0.join("slot/src"),
            base.0.join("slot/patched.index"),
        );
        repository(&src);
        std::fs::create_dir_all(base.0.join("slot")).unwrap();
        clone(&src, &work).unwrap();
        assert!(is_clone(&work));
        let commit = source(&src).unwrap().commit;
        let plain = patched_tree(&work, &index, &commit, &[]).unwrap();
        check_out(&work, &plain).unwrap();
        assert_eq!(
            std::fs::read_to_string(work.join("fs/a.c")).unwrap(),
            "one\ntwo\n"
        );
        let stamp = |p: &str| {
            let md = std::fs::metadata(work.join(p)).unwrap();
            (md.ino(), md.mtime(), md.mtime_nsec())
        };
        let b_before = stamp("fs/b.c");
        let a = patch(&base.0, "0001-a.patch", A_PATCH);
        let new = patch(&base.0, "0002-new.patch", NEW_FILE);
        let patched = patched_tree(&work, &index, &commit, &[a, new]).unwrap();
        assert_ne!(patched, plain);
        assert_eq!(
            changed_paths(&work, &plain, &patched).unwrap(),
            ["fs/a.c", "fs/new.c"]
        );
        check_out(&work, &patched).unwrap();
        assert_eq!(
            std::fs::read_to_string(work.join("fs/a.c")).unwrap(),
            "one\nthree\n"
        );
        assert_eq!(
            std::fs::read_to_string(work.join("fs/new.c")).unwrap(),
            "new\n"
        );
        assert_eq!(stamp("fs/b.c"), b_before, "an unchanged file was rewritten");
        // Back to the plain tree: the patch's files are undone, strays removed.
        std::fs::write(work.join("fs/stray.o"), "x").unwrap();
        check_out(&work, &plain).unwrap();
        assert_eq!(
            std::fs::read_to_string(work.join("fs/a.c")).unwrap(),
            "one\ntwo\n"
        );
        assert!(!work.join("fs/new.c").exists());
        assert!(!work.join("fs/stray.o").exists());
        assert_eq!(stamp("fs/b.c"), b_before);
        // SRC_DIR's files never change.
        assert_eq!(
            std::fs::read_to_string(src.join("fs/a.c")).unwrap(),
            "one\ntwo\n"
        );
        assert_eq!(run(&src, &["status", "--porcelain"]), "");
    }

    #[test]
    fn a_patch_that_does_not_apply_is_named() {
        let base = Scratch::new("badpatch");
        let (src, work) = (base.0.join("linux"), base.0.join("src"));
        repository(&src);
        clone(&src, &work).unwrap();
        let commit = source(&src).unwrap().commit;
        let good = patch(&base.0, "0001-a.patch", A_PATCH);
        let twice = patch(&base.0, "0002-a-again.patch", A_PATCH);
        let e = patched_tree(&work, &base.0.join("index"), &commit, &[good, twice]).unwrap_err();
        match e {
            BuildError::PatchFailed { patch, output } => {
                assert!(patch.ends_with("0002-a-again.patch"), "{patch}");
                assert!(output.contains("fs/a.c"), "{output}");
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn fragments_are_compared_by_content() {
        let base = Scratch::new("fragments");
        let (x, y, z) = (base.0.join("x"), base.0.join("y"), base.0.join("z"));
        std::fs::write(&x, "CONFIG_A=y\n").unwrap();
        std::fs::write(&y, "CONFIG_A=y\n").unwrap();
        std::fs::write(&z, "CONFIG_A=n\n").unwrap();
        let ids = content_ids(&[x, y, z]).unwrap();
        assert_eq!(ids.len(), 3);
        assert_eq!(ids[0], ids[1]);
        assert_ne!(ids[0], ids[2]);
        assert!(content_ids(&[base.0.join("missing")]).is_err());
    }
}
