//! The C text of a reproducer ([`render`]).

use crate::calls::{buffer, c_i64, c_str, cookie_key, sync_call, CLOSED};
use crate::plan::{Action, Check, Exec, Plan};
use backends::trace::{BufferRole, FdName, TracedDone, TracedSqe};
use backends::uring::{written_slots, Mode};
use model::sqe::Field;
use model::sqe_rules::{rules_for, Role, Rule};
use model::{Allowed, Data, DirentChoice, Errno, FdRef, FileType, Op, Outcome, State};
use oracle::differential::Verdict;
use std::fmt::Write;

/// The C every reproducer starts with: scratch filesystems and io_uring.
pub(crate) const COMMON: &str = include_str!("common.c");

/// The C runtime of a sequence reproducer.
const SEQUENCE: &str = include_str!("sequence.c");

/// Every file type, in the order of the C file's RS_TYPE_* codes.
const TYPES: [FileType; 8] = [
    FileType::Reg,
    FileType::Dir,
    FileType::Lnk,
    FileType::Fifo,
    FileType::Sock,
    FileType::Chr,
    FileType::Blk,
    FileType::Unknown,
];

fn type_code(t: FileType) -> &'static str {
    match t {
        FileType::Reg => "RS_TYPE_REG",
        FileType::Dir => "RS_TYPE_DIR",
        FileType::Lnk => "RS_TYPE_LNK",
        FileType::Fifo => "RS_TYPE_FIFO",
        FileType::Sock => "RS_TYPE_SOCK",
        FileType::Chr => "RS_TYPE_CHR",
        FileType::Blk => "RS_TYPE_BLK",
        FileType::Unknown => "RS_TYPE_UNKNOWN",
    }
}

/// The S_IFMT bits of each file type that has them.
const MODE_BITS: [u32; 7] = [
    0o100000, 0o040000, 0o120000, 0o010000, 0o140000, 0o020000, 0o060000,
];

/// FNV-1a, as the C file hashes file contents, xattrs and pipe contents.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn feed(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= x as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The model's final state as the sorted lines the C file's walk prints.
fn state_lines(state: &State) -> Vec<String> {
    let mut lines = Vec::new();
    for (root, tree) in &state.trees {
        for (path, n) in tree {
            let mut data = Fnv::new();
            let bytes: usize = n.data.iter().map(|(_, b)| b.len()).sum();
            for (off, b) in &n.data {
                data.feed(format!("@{off}:").as_bytes());
                data.feed(b);
                data.feed(b";");
            }
            let mut xa = Fnv::new();
            for (name, value) in &n.xattrs {
                xa.feed(name.as_bytes());
                xa.feed(b"=");
                xa.feed(value);
                xa.feed(b";");
            }
            lines.push(format!(
                "{root}/{path} {:?} {:o} size={} nlink={} rdev={}:{} data={}/{bytes}#{:016x} xattrs={}#{:016x}",
                n.file_type,
                n.perm,
                n.size,
                n.nlink,
                n.rdev.0,
                n.rdev.1,
                n.data.len(),
                data.0,
                n.xattrs.len(),
                xa.0
            ));
        }
    }
    for (slot, f) in &state.fds {
        let pending = match &f.pending {
            None => "*".to_string(),
            Some(b) => {
                let mut h = Fnv::new();
                h.feed(b);
                format!("{}#{:016x}", b.len(), h.0)
            }
        };
        let offset = f.offset.map_or("-".to_string(), |o| o.to_string());
        lines.push(format!(
            "fd {slot} {:?} offset={offset} {} pending={pending}",
            f.file_type, f.flags
        ));
    }
    lines.sort();
    lines
}

/// Static declarations, numbered; `main` refers to them by name.
#[derive(Default)]
struct Decls {
    text: String,
    next: usize,
}

impl Decls {
    fn name(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    /// A `struct rs_out` literal for an outcome; returns its name.
    fn outcome(&mut self, o: &Outcome) -> String {
        let name = self.name("out");
        let res = match o.result {
            Ok(v) => format!(".res = {}", c_i64(v)),
            Err(e) => format!(".err = {}", e.0),
        };
        let fields = match &o.data {
            Data::None => "D_NONE".to_string(),
            Data::Bytes(b) => format!(
                "D_BYTES, .bytes = (const unsigned char *){}, .nbytes = {}",
                c_str(b),
                b.len()
            ),
            Data::Dirents(d) => {
                let arr = self.name("dents");
                let items: Vec<String> = d
                    .iter()
                    .map(|e| {
                        format!(
                            "{{{}, {}, {}}}",
                            c_str(e.name.as_bytes()),
                            type_code(e.file_type),
                            e.reclen
                        )
                    })
                    .collect();
                let _ = writeln!(
                    self.text,
                    "static const struct rs_dirent {arr}[] = {{{}{}}};",
                    items.join(", "),
                    if items.is_empty() { "{0}" } else { "" }
                );
                format!("D_DIRENTS, .d = {arr}, .nd = {}", d.len())
            }
            Data::Stat(s) => format!(
                "D_STAT, .st_type = {}, .st_perm = 0{:o}, .st_size = {}ull, .st_nlink = {}, .st_major = {}, .st_minor = {}",
                type_code(s.file_type),
                s.perm,
                s.size,
                s.nlink,
                s.rdev.0,
                s.rdev.1
            ),
            Data::Offsets(i, out) => format!(
                "D_OFFSETS, .has_in = {}, .off_in = {}, .has_out = {}, .off_out = {}",
                i.is_some() as u8,
                c_i64(i.unwrap_or(0)),
                out.is_some() as u8,
                c_i64(out.unwrap_or(0))
            ),
            Data::MalformedDirents(_) => "D_MALFORMED".to_string(),
        };
        let _ = writeln!(
            self.text,
            "static const struct rs_out {name} = {{{res}, .data = {fields}}};"
        );
        name
    }

    /// A C expression over `o` (a `const struct rs_out *`) that is true
    /// exactly when the outcome is in `a`.
    fn allowed(&mut self, a: &Allowed) -> String {
        match a {
            Allowed::Exact(o) => format!("rs_eq(o, &{})", self.outcome(o)),
            Allowed::Count {
                min, max, bytes, ..
            } => format!(
                "rs_count(o, {}, {}, {})",
                c_i64(*min),
                c_i64(*max),
                bytes.as_ref().map_or("NULL".to_string(), |b| format!(
                    "(const unsigned char *){}",
                    c_str(b)
                ))
            ),
            Allowed::Transfer {
                min, max, offsets, ..
            } => {
                let (i, o) = offsets.unwrap_or((None, None));
                format!(
                    "rs_transfer(o, {}, {}, {}, {}, {}, {}, {})",
                    c_i64(*min),
                    c_i64(*max),
                    offsets.is_some() as u8,
                    i.is_some() as u8,
                    c_i64(i.unwrap_or(0)),
                    o.is_some() as u8,
                    c_i64(o.unwrap_or(0))
                )
            }
            Allowed::Values(vs, _) => {
                let items: Vec<String> = vs.iter().map(|v| c_i64(*v)).collect();
                format!(
                    "rs_values(o, (const long long[]){{{}}}, {})",
                    if items.is_empty() {
                        "0".to_string()
                    } else {
                        items.join(", ")
                    },
                    vs.len()
                )
            }
            Allowed::OneOf(alts) if alts.is_empty() => "0".into(),
            Allowed::OneOf(alts) => {
                let parts: Vec<String> = alts.iter().map(|x| self.allowed(x)).collect();
                format!("({})", parts.join(" || "))
            }
            Allowed::Dirents(c) => format!("rs_dirents(o, &{})", self.choice(c)),
            Allowed::Unspecified(_) | Allowed::Unmodelled(_) | Allowed::KnownBug(_) => "1".into(),
            Allowed::Blocks => "0".into(),
        }
    }

    fn choice(&mut self, c: &DirentChoice) -> String {
        let cands = self.name("cands");
        let mut items = Vec::new();
        for (mandatory, set) in [(1, &c.mandatory), (0, &c.optional)] {
            for (name, t) in set {
                let alt: u32 = c.alt_types.get(name).map_or(0, |ts| {
                    ts.iter()
                        .map(|t| 1u32 << TYPES.iter().position(|x| x == t).unwrap_or(7))
                        .sum()
                });
                items.push(format!(
                    "{{{}, {}, {mandatory}, {}, {alt}u}}",
                    c_str(name.as_bytes()),
                    type_code(*t),
                    c.rank.get(name).map_or(-1, |&r| r as i64)
                ));
            }
        }
        let _ = writeln!(
            self.text,
            "static const struct rs_cand {cands}[] = {{{}{}}};",
            items.join(", "),
            if items.is_empty() { "{0}" } else { "" }
        );
        let name = self.name("choice");
        let _ = writeln!(
            self.text,
            "static const struct rs_choice {name} = {{{}, {}, {}, {}, {cands}}};",
            c.count,
            c.ordered as u8,
            c.may_stop_early as u8,
            items.len()
        );
        name
    }
}

fn op_text(op: &Op) -> String {
    serde_json::to_string(op).unwrap_or_default()
}

/// The C statements that judge check `c` of an op whose outcome is `o`.
fn judge(d: &mut Decls, op: &Op, c: &Check, diverged_at: Option<usize>, o: &str) -> String {
    let f = d.name("allowed_");
    let expr = d.allowed(&c.allowed);
    let _ = writeln!(
        d.text,
        "static int {f}(const struct rs_out *o)\n{{\n\treturn {expr};\n}}"
    );
    // After an op the model cannot follow, the run stops: no path to keep.
    let recorded = match c.allowed {
        Allowed::Unmodelled(_) | Allowed::KnownBug(_) => "NULL".to_string(),
        _ => format!("&{}", d.outcome(&c.actual)),
    };
    format!(
        "if ((r = rs_judge({}, {}, &{o}, {f}(&{o}), {}, {recorded}, {})) >= 0)\n\t\t\treturn rs_finish(r);",
        c.index,
        c_str(op_text(op).as_bytes()),
        c_str(c.allowed.to_string().as_bytes()),
        (diverged_at == Some(c.index)) as u8
    )
}

/// The C expression of a path buffer. A path through /proc/self/fd names
/// one of the backend's descriptors (the calls without an *at form): it is
/// rebuilt around the reproducer's own.
fn path_buffer(bytes: &[u8], fds: &[(i32, FdName)]) -> String {
    for (fd, who) in fds {
        let prefix = format!("/proc/self/fd/{fd}/");
        if let Some(rest) = bytes.strip_prefix(prefix.as_bytes()) {
            return format!(
                "(unsigned char *)rs_fd_path({}, {})",
                fd_expr(*who),
                c_str(rest)
            );
        }
    }
    format!("(unsigned char *){}", c_str(bytes))
}

/// The C expression of one of the backend's descriptors.
fn fd_expr(who: FdName) -> String {
    match who {
        FdName::Root => "rs_root".to_string(),
        FdName::Other => "rs_other".to_string(),
        FdName::Slot(s) => format!("rs_slotfd({s})"),
    }
}

/// In fixed mode, the C that points the registered entries of the slots
/// `ops` filled or emptied at their descriptors (as the backend does after
/// each op or group); nothing otherwise.
fn sync_fixed(plan: &Plan, ops: &[Op]) -> String {
    if plan.mode != Some(Mode::Fixed) {
        return String::new();
    }
    ops.iter()
        .flat_map(written_slots)
        .map(|s| format!("\t\trs_sync_fixed({s});\n"))
        .collect()
}

/// An SQE field's value as a C literal; None for 0 (the SQE starts zeroed).
/// Descriptor fields read signed, 64-bit ones unsigned long long.
pub(crate) fn field_literal(field: Field, v: u64) -> Option<String> {
    Some(match field {
        _ if v == 0 => return None,
        Field::Fd | Field::SpliceFdIn => (v as u32 as i32).to_string(),
        _ if field.width() == 64 => format!("{v:#x}ull"),
        _ if v > 0xffff => format!("{v:#x}"),
        _ => v.to_string(),
    })
}

/// The names of the IOSQE_* flags set, as a comment suffix.
fn sqe_flag_names(flags: u8) -> String {
    use backends::sqe::flags as f;
    let names = [
        (f::FIXED_FILE, "FIXED_FILE"),
        (f::IO_DRAIN, "IO_DRAIN"),
        (f::IO_LINK, "IO_LINK"),
        (f::IO_HARDLINK, "IO_HARDLINK"),
        (f::ASYNC, "ASYNC"),
        (f::BUFFER_SELECT, "BUFFER_SELECT"),
        (f::CQE_SKIP_SUCCESS, "CQE_SKIP_SUCCESS"),
    ];
    names
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| format!(", IOSQE_{n}"))
        .collect()
}

/// The C of one ring step: the SQEs with this run's descriptors and
/// buffers in place of the traced ones, submitted together, then each
/// outcome judged.
fn ring_step(
    d: &mut Decls,
    plan: &Plan,
    sqes: &[TracedSqe],
    checks: &[Check],
    diverged_at: Option<usize>,
) -> String {
    let ops = &plan.ops;
    let mut s = String::new();
    let n = sqes.len();
    let arr = d.name("sqe");
    let _ = writeln!(
        s,
        "\t{{\n\t\tstruct rs_sqe {arr}[{n}];\n\t\tint res[{n}];\n\t\tmemset({arr}, 0, sizeof({arr}));"
    );
    let mut bufs = Vec::new();
    for (k, q) in sqes.iter().enumerate() {
        // A group is consecutive ops (a divergence may have cut its checks short).
        let index = checks[0].index + k;
        let op = &ops[index];
        let mut names = Vec::new();
        for b in &q.buffers {
            let name = d.name("buf");
            let init = match b.role {
                BufferRole::Path => path_buffer(&b.bytes, &q.fds),
                BufferRole::Data => buffer(&b.bytes),
                BufferRole::Dirents | BufferRole::Statx | BufferRole::PipeFds => {
                    format!("rs_zeroed({})", b.bytes.len())
                }
            };
            let _ = writeln!(s, "\t\tunsigned char *{name} = {init};");
            names.push((b.role, name, b.addr));
        }
        let sqe = model::sqe::Sqe::from_bytes(&q.bytes);
        let rules = rules_for(&plan.ring, sqe.opcode);
        let opname = rules
            .map(|r| r.name())
            .or_else(|| model::opcode::name(sqe.opcode))
            .unwrap_or("?");
        let _ = writeln!(
            s,
            "\t\t/* op #{index} {}: IORING_OP_{opname}{} */\n\t\t{arr}[{k}].opcode = {};",
            op.kind(),
            sqe_flag_names(sqe.flags),
            sqe.opcode
        );
        if sqe.flags != 0 {
            let _ = writeln!(s, "\t\t{arr}[{k}].flags = {:#x};", sqe.flags);
        }
        // Each field as this run needs it: the fields the SQE rules say hold
        // descriptors or pointers get the reproducer's own (for an opcode
        // without rules: fd and the 64-bit fields), the rest their value.
        for field in Field::ALL {
            let v = sqe.get(field);
            // A registered-file index is not a descriptor.
            let fixed = match field {
                Field::Fd => sqe.flags & backends::sqe::flags::FIXED_FILE != 0,
                Field::SpliceFdIn => sqe.op_flags & backends::sqe::SPLICE_F_FD_IN_FIXED != 0,
                _ => false,
            };
            let role = match rules.map(|r| r.rule(field, plan.ring.kernel)) {
                _ if fixed => None,
                Some(Rule::Reads(Role::Fd(_) | Role::DirFdInLen)) => Some(true),
                Some(Rule::Reads(Role::Ptr(_))) => Some(false),
                Some(_) => None,
                None if field == Field::Fd => Some(true),
                None if field.width() == 64 => Some(false),
                None => None,
            };
            let expr = match role {
                Some(true) => {
                    let fd = v as u32 as i32;
                    q.fds
                        .iter()
                        .find(|(f, _)| *f == fd)
                        .map(|(_, who)| fd_expr(*who))
                        .or_else(|| (fd == CLOSED).then(|| "RS_CLOSED_FD".to_string()))
                }
                Some(false) => names
                    .iter()
                    .find(|(_, _, a)| *a == v && v != 0)
                    .map(|(_, name, _)| format!("(uintptr_t){name}")),
                None => None,
            };
            if let Some(expr) = expr.or_else(|| field_literal(field, v)) {
                let _ = writeln!(s, "\t\t{arr}[{k}].{} = {expr};", field.name());
            }
        }
        if let Op::Close {
            fd: FdRef::Slot(slot),
        } = op
        {
            // The backend takes the descriptor out of its slot to close it.
            let _ = writeln!(s, "\t\trs_forget({slot});");
        }
        bufs.push(names);
    }
    let linked = n > 1 && sqes[0].bytes[1] & backends::sqe::flags::IO_LINK != 0;
    let _ = writeln!(s, "\t\trs_submit({n}, {arr}, res, {});", linked as u8);
    let _ = writeln!(s, "\t\tstruct rs_out o[{n}];\n\t\tmemset(o, 0, sizeof(o));");
    let mut judges = String::new();
    for (k, (q, c)) in sqes.iter().zip(checks).enumerate() {
        let op = &ops[c.index];
        let find = |role: BufferRole| {
            bufs[k]
                .iter()
                .find(|(r, _, _)| *r == role)
                .map(|(_, n, _)| n.clone())
                .unwrap_or_else(|| "NULL".into())
        };
        let (o, res) = (format!("&o[{k}]"), format!("res[{k}]"));
        let fill = match q.done {
            TracedDone::Plain => format!("rs_cqe_res({o}, {res});"),
            TracedDone::Read => format!("rs_bytes_res({o}, {}, {res});", find(BufferRole::Data)),
            TracedDone::Stat => format!("rs_stat_res({o}, {}, {res});", find(BufferRole::Statx)),
            TracedDone::Open(slot) => format!("rs_open_res({o}, {slot}, {res});"),
            TracedDone::Pipe(r, w) => format!(
                "rs_pipe_res({o}, {r}, {w}, {}, {res});",
                find(BufferRole::PipeFds)
            ),
            TracedDone::Getdents => {
                let (key, len) = match op {
                    Op::Getdents { fd, .. } => (
                        cookie_key(*fd),
                        q.buffers
                            .iter()
                            .find(|b| b.role == BufferRole::Dirents)
                            .map_or(0, |b| b.bytes.len()),
                    ),
                    _ => ("-1".into(), 0),
                };
                format!(
                    "rs_getdents_res({o}, {key}, {}, {len}, {res});",
                    find(BufferRole::Dirents)
                )
            }
        };
        let _ = writeln!(s, "\t\t{fill}");
        let _ = writeln!(
            judges,
            "\t\t{}",
            judge(d, op, c, diverged_at, &format!("o[{k}]"))
        );
    }
    // The slots the group filled or emptied, then each op judged.
    let first = checks[0].index;
    s.push_str(&sync_fixed(plan, &ops[first..first + n]));
    s.push_str(&judges);
    s.push_str("\t}\n");
    s
}

/// The whole C file of a reproducer.
pub fn render(plan: &Plan) -> String {
    let mut d = Decls::default();
    let mut body = String::new();
    let diverged_at = match &plan.verdict {
        Verdict::Diverged(div) => div.index,
        _ => None,
    };
    // Every io_uring target has its ring, as the backend does, even when
    // each op of the sequence went the synchronous way.
    if plan.mode.is_some() {
        body.push_str("\trs_ring_setup();\n");
    }
    for a in &plan.actions {
        match a {
            Action::Run {
                exec: Exec::Sync,
                checks,
            } => {
                let c = &checks[0];
                let op = &plan.ops[c.index];
                let _ = writeln!(
                    body,
                    "\t{{ /* op #{} */\n\t\tstruct rs_out o;\n\t\tmemset(&o, 0, sizeof(o));\n\t\trs_arm();\n\t\t{{\n\t\t{}\n\t\t}}\n\t\trs_disarm(&o);\n{}\t\t{}\n\t}}",
                    c.index,
                    sync_call(op),
                    sync_fixed(plan, std::slice::from_ref(op)),
                    judge(&mut d, op, c, diverged_at, "o")
                );
            }
            Action::Run {
                exec: Exec::Ring(sqes),
                checks,
            } => body.push_str(&ring_step(&mut d, plan, sqes, checks, diverged_at)),
            Action::Skip { index } => {
                let _ = writeln!(
                    body,
                    "\tprintf(\"op #{index} %s\\n  not run: the model says it would block forever\\n\", {});",
                    c_str(op_text(&plan.ops[*index]).as_bytes())
                );
            }
            Action::Poison { index, why } => {
                let _ = writeln!(
                    body,
                    "\tprintf(\"op #{index}: the model does not pin down what follows (%s): nothing after it is compared\\n\", {});\n\treturn rs_finish(RS_FIXED);",
                    c_str(why.as_bytes())
                );
            }
            Action::Final { model } => {
                let lines = state_lines(model);
                let items: Vec<String> = lines.iter().map(|l| c_str(l.as_bytes())).collect();
                let _ = writeln!(
                    d.text,
                    "static const char *const final_state[] = {{\n\t{}{}\n}};",
                    items.join(",\n\t"),
                    if items.is_empty() { "NULL" } else { "" }
                );
                let _ = writeln!(
                    body,
                    "\tprintf(\"final state\\n\");\n\tif (!rs_check_state(final_state, {})) {{\n\t\tprintf(\"  BUG: the final state is not the model's\\n\");\n\t\treturn rs_finish(RS_BUG);\n\t}}\n\tprintf(\"  as the model expects\\n\");",
                    lines.len()
                );
            }
        }
    }
    body.push_str("\treturn rs_finish(RS_FIXED);\n");
    let mut out = String::new();
    header(&mut out, plan, diverged_at);
    defines(&mut out, plan);
    out.push_str(COMMON);
    out.push_str(SEQUENCE);
    out.push_str(&helpers());
    out.push_str(
        "\n/* ---- this sequence ---------------------------------------------------- */\n\n",
    );
    out.push_str(&d.text);
    let _ = write!(
        out,
        "\nint main(int argc, char **argv)\n{{\n\tint r;\n\t(void)r;\n\tsetvbuf(stdout, NULL, _IOLBF, 0);\n\trs_setup(argc > 1 ? argv[1] : \"/tmp\");\n\trs_slots_init();\n{body}}}\n"
    );
    out
}

fn header(out: &mut String, plan: &Plan, diverged_at: Option<usize>) {
    let verdict = match (&plan.verdict, diverged_at) {
        (Verdict::Diverged(_), Some(i)) => format!("diverged at op #{i}"),
        (Verdict::Diverged(_), None) => "diverged in the final state".into(),
        (Verdict::Poisoned(_), _) => "reached behaviour the model does not pin down".into(),
        (Verdict::Agree, _) => "agreed with the model".into(),
    };
    let note: Vec<String> = plan
        .note
        .trim()
        .lines()
        .map(|l| {
            format!(" * {}", l.replace("*/", "* /"))
                .trim_end()
                .to_string()
        })
        .collect();
    let _ = write!(
        out,
        "/* ringspec reproducer: {name}\n *\n{note}\n *\n * Target {target} on {fs}. Made by `{cmd}` on Linux {kernel},\n * where the sequence {verdict}.\n *\n * Build and run as root (it mounts its own filesystems in a private mount\n * namespace, in a directory it makes under DIR, default /tmp):\n *     cc repro.c -o repro && ./repro [DIR]\n * Exit status: 0 every outcome and the final state as the model allows (fixed),\n * 1 an outcome or the final state outside it (the bug), 2 cannot judge.\n */\n",
        name = plan.name,
        note = note.join("\n"),
        target = plan.target,
        fs = plan.fs.name(),
        cmd = plan.command,
        kernel = plan.kernel,
    );
}

/// The scratch area's facts both kinds of reproducer build on: the
/// filesystem, how ringspec makes it, its tmpfs options and image size.
pub(crate) fn scratch_defines(fs: sys::scratch::FsChoice) -> Vec<(&'static str, String)> {
    let (fstype, mkfs) = match fs.mkfs_command() {
        None => ("tmpfs".to_string(), "NULL".to_string()),
        Some((tool, args)) => (
            fs.name().to_string(),
            c_str(format!("{tool} {}", args.join(" ")).as_bytes()),
        ),
    };
    vec![
        ("RS_FSTYPE", c_str(fstype.as_bytes())),
        ("RS_MKFS", mkfs),
        (
            "RS_TMPFS_OPTIONS",
            c_str(sys::scratch::TMPFS_OPTIONS.as_bytes()),
        ),
        ("RS_IMAGE_SIZE", format!("{}LL", sys::scratch::IMAGE_SIZE)),
    ]
}

/// `#define NAME VALUE`, one per line.
pub(crate) fn write_defines(out: &mut String, defines: &[(&str, String)]) {
    for (k, v) in defines {
        let _ = writeln!(out, "#define {k} {v}");
    }
}

fn defines(out: &mut String, plan: &Plan) {
    use backends::uring as u;
    let cancelled: Vec<String> = u::CANCELLED_RESULTS.iter().map(|v| v.to_string()).collect();
    let mut d = vec![
        ("RS_SLOTS", model::MAX_SLOTS.to_string()),
        ("RS_CLOSED_FD", CLOSED.to_string()),
    ];
    d.extend(scratch_defines(plan.fs));
    d.extend([
        (
            "RS_OP_DEADLINE_MS",
            sys::deadline::OP_DEADLINE.as_millis().to_string(),
        ),
        (
            "RS_DEADLINE_MS",
            u::DEFAULT_DEADLINE.as_millis().to_string(),
        ),
        (
            "RS_CANCEL_DEADLINE_MS",
            u::CANCEL_DEADLINE.as_millis().to_string(),
        ),
        ("RS_RING_ENTRIES", u::RING_ENTRIES.to_string()),
        ("RS_MAX_GROUP", u::MAX_BATCH.to_string()),
        (
            "RS_RING_FIXED",
            ((plan.mode == Some(Mode::Fixed)) as u8).to_string(),
        ),
        (
            "RS_RING_SQPOLL",
            ((plan.mode == Some(Mode::Sqpoll)) as u8).to_string(),
        ),
        ("RS_SQPOLL_IDLE_MS", u::SQPOLL_IDLE_MS.to_string()),
        ("RS_ROOT_FIXED_INDEX", u::ROOT_FIXED_INDEX.to_string()),
        (
            "RS_CANCELLED_RESULTS",
            format!("{{{}}}", cancelled.join(", ")),
        ),
        ("RS_CHUNK", sys::dirent::CHUNK.to_string()),
        (
            "RS_READ_CAP",
            format!("{}LL", backends::syscalls::SNAPSHOT_READ_CAP),
        ),
    ]);
    write_defines(out, &d);
    let codes: Vec<&str> = TYPES.iter().map(|t| type_code(*t)).collect();
    let _ = writeln!(out, "enum {{ {} }};\n", codes.join(", "));
}

/// The C functions generated from the model's tables: type names and
/// codes, errno names, and small setters.
fn helpers() -> String {
    let mut s = String::from(
        "\n/* ---- from ringspec's tables ------------------------------------------- */\n\n",
    );
    let names: Vec<String> = TYPES.iter().map(|t| format!("\"{t:?}\"")).collect();
    let _ = writeln!(
        s,
        "static const char *rs_type_name(int t)\n{{\n\tstatic const char *const n[] = {{{}}};\n\treturn t >= 0 && t < {} ? n[t] : \"?\";\n}}\n",
        names.join(", "),
        TYPES.len()
    );
    s.push_str("static int rs_type_of_dtype(int d_type)\n{\n\tswitch (d_type) {\n");
    for t in TYPES {
        if t != FileType::Unknown {
            let _ = writeln!(s, "\tcase {}:\n\t\treturn {};", t.d_type(), type_code(t));
        }
    }
    s.push_str("\t}\n\treturn RS_TYPE_UNKNOWN;\n}\n\n");
    s.push_str("static int rs_type_of_mode(unsigned mode)\n{\n\tswitch (mode & 0170000) {\n");
    for bits in MODE_BITS {
        let _ = writeln!(
            s,
            "\tcase 0{bits:o}:\n\t\treturn {};",
            type_code(FileType::from_mode(bits))
        );
    }
    s.push_str("\t}\n\treturn RS_TYPE_UNKNOWN;\n}\n\n");
    s.push_str(&errno_names());
    s
}

/// `rs_errno_name`: the model's errno table in C.
pub(crate) fn errno_names() -> String {
    let mut s = String::new();
    s.push_str(
        "static const char *rs_errno_name(int e)\n{\n\tstatic char other[16];\n\tswitch (e) {\n",
    );
    for n in 1..600 {
        let name = Errno(n).name();
        if name != format!("E{n}") {
            let _ = writeln!(s, "\tcase {n}:\n\t\treturn \"{name}\";");
        }
    }
    s.push_str("\t}\n\tsnprintf(other, sizeof(other), \"E%d\", e);\n\treturn other;\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{FdState, Node};

    fn fnv(b: &[u8]) -> u64 {
        let mut h = Fnv::new();
        h.feed(b);
        h.0
    }

    /// The lines the C walk prints for the same state (its hashes are over
    /// "@offset:bytes;" per run and "name=value;" per xattr).
    #[test]
    fn state_lines_are_what_the_c_walk_prints() {
        let mut state = State::default();
        let node = Node {
            file_type: FileType::Reg,
            perm: 0o644,
            size: 10,
            nlink: 1,
            rdev: (0, 0),
            data: vec![(0, b"ab".to_vec()), (8, b"c".to_vec())],
            extents: None,
            xattrs: [("user.a".to_string(), b"v".to_vec())].into(),
        };
        state
            .trees
            .insert("root".into(), [("d/f".to_string(), node)].into());
        state.fds.insert(
            3,
            FdState {
                file_type: FileType::Fifo,
                offset: None,
                flags: "rdonly".into(),
                pending: None,
            },
        );
        let lines = state_lines(&state);
        assert_eq!(
            lines,
            vec![
                "fd 3 Fifo offset=- rdonly pending=*".to_string(),
                format!(
                    "root/d/f Reg 644 size=10 nlink=1 rdev=0:0 data=2/3#{:016x} xattrs=1#{:016x}",
                    fnv(b"@0:ab;@8:c;"),
                    fnv(b"user.a=v;")
                ),
            ]
        );
    }
}
