//! C reproducers of sqe_fields inputs: the input runs once in the sandbox
//! with tracing on ([`sqefuzz::sqe_fuzz::trace`]), and [`render_sqe_fields`]
//! writes the SQEs as sent, the fixture, the registered files and the arena
//! as they were, the table's allowed results, and the harness's checks.

use crate::calls::c_str;
use crate::emit::{errno_names, field_literal, scratch_defines, write_defines, COMMON};
use model::sqe::Field;
use sqefuzz::sqe_fuzz::{SqeTrace, MAX_SQES};
use std::fmt::Write;
use sys::scratch::FsChoice;

/// The C runtime of an sqe_fields reproducer.
const SQE: &str = include_str!("sqe.c");

/// A result as the harness prints it ("-EINVAL", "3", "no CQE").
fn result_text(r: Option<i32>) -> String {
    r.map_or("no CQE".into(), model::Errno::format_result)
}

/// The C expression of a descriptor field's value: the reproducer's own
/// role descriptor, closed slot or nr_open + 7 where the harness had its.
fn fd_expr(t: &SqeTrace, v: i32) -> String {
    if let Some(k) = t.roles.iter().position(|&r| r == v) {
        format!("sq_roles[{k}]")
    } else if v == t.closed_slot {
        "sq_closed".into()
    } else if v as i64 == t.nr_open as i64 + 7 {
        "(int)(sq_nr_open + 7)".into()
    } else {
        v.to_string()
    }
}

/// The whole C file of an sqe_fields reproducer. `command` makes it again.
pub fn render_sqe_fields(t: &SqeTrace, name: &str, command: &str) -> String {
    let mut out = String::new();
    let verdict = match &t.verdict {
        Some(Ok(())) => "everything as the table allows".to_string(),
        Some(Err(f)) => format!("a finding: {f}"),
        None => "no verdict (the harness stopped)".to_string(),
    };
    let _ = write!(
        out,
        "/* ringspec sqe_fields reproducer: {name}\n *\n * Made by `{command}` on Linux {},\n * where the sandbox concluded: {}\n *\n * Build and run as root (it mounts its own tmpfs instances in a private\n * mount namespace, in a directory it makes under DIR, default /tmp):\n *     cc repro.c -o repro && ./repro [DIR]\n * Exit status: 0 every check as the table allows, 1 a check failed (the\n * bug), 2 cannot judge.\n */\n",
        backends::proposed::running_release(),
        verdict.replace("*/", "* /").replace('\n', "\n * ")
    );
    let cancelled: Vec<String> = model::sqe_rules::CANCELLED
        .iter()
        .map(|v| v.to_string())
        .collect();
    let mut defines = scratch_defines(FsChoice::Tmpfs);
    defines.extend([
        ("RS_MAX_SQES", MAX_SQES.to_string()),
        ("SQ_FIXED_SLOTS", sqefuzz::sqe_fuzz::FIXED_SLOTS.to_string()),
        ("SQ_ARENA_BASE", format!("{:#x}ull", t.arena_base)),
        ("SQ_ARENA_LEN", t.arena_len.to_string()),
        ("SQ_DEADLINE_MS", t.deadline.as_millis().to_string()),
        ("SQ_GRACE_MS", t.grace.as_millis().to_string()),
        ("SQ_IOVECS_AT", t.iovecs_at.to_string()),
        ("SQ_CANCELLED", format!("{{{}}}", cancelled.join(", "))),
    ]);
    write_defines(&mut out, &defines);
    out.push_str(COMMON);
    out.push_str("#include <sys/resource.h>\n\n");
    out.push_str(&errno_names());
    out.push('\n');
    out.push_str(SQE);
    out.push_str(
        "\n/* ---- this input ------------------------------------------------------- */\n\n",
    );
    // The arena's parts.
    for (k, (_, bytes, _)) in t.parts.iter().enumerate() {
        let _ = writeln!(out, "static const unsigned char part{k}[] =");
        for chunk in bytes.chunks(64) {
            let _ = writeln!(out, "\t{}", c_str(chunk));
        }
        out.push_str("\t;\n");
    }
    let list = |f: &dyn Fn(usize) -> String| -> String {
        (0..t.parts.len()).map(f).collect::<Vec<_>>().join(", ")
    };
    let _ = writeln!(
        out,
        "static const unsigned char *const parts[] = {{{}}};",
        list(&|k| format!("part{k}"))
    );
    let _ = writeln!(
        out,
        "static const unsigned long part_at[] = {{{}}};",
        list(&|k| t.parts[k].0.to_string())
    );
    let _ = writeln!(
        out,
        "static const unsigned long part_len[] = {{{}}};",
        list(&|k| t.parts[k].1.len().to_string())
    );
    let _ = writeln!(
        out,
        "static const int part_writable[] = {{{}}};\n",
        list(&|k| (t.parts[k].2 as u8).to_string())
    );
    // What the table allows each SQE, and what it may write.
    let base = t.arena_base;
    let end = base + t.arena_len as u64;
    let mut table = Vec::new();
    for (i, s) in t.sqes.iter().enumerate() {
        let (values, range, rejected, text) = match &s.allowed {
            Some(a) => (
                a.values.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
                a.range,
                a.rejected,
                format!("{a}"),
            ),
            None => (vec![], None, false, "not judged".into()),
        };
        let _ = writeln!(
            out,
            "static const int values{i}[] = {{{}}};",
            if values.is_empty() {
                "0".into()
            } else {
                values.join(", ")
            }
        );
        let writes: Vec<String> = s
            .writes
            .iter()
            .filter_map(|&(p, l)| {
                let (a, b) = (p.max(base), p.saturating_add(l).min(end));
                (a < b).then(|| format!("{{{}, {}}}", a - base, b - base))
            })
            .collect();
        let _ = writeln!(
            out,
            "static const unsigned long long writes{i}[][2] = {{{}}};",
            if writes.is_empty() {
                "{0, 0}".into()
            } else {
                writes.join(", ")
            }
        );
        let (lo, hi) = range.unwrap_or((0, -1));
        table.push(format!(
            "\t{{{}, {}, {{values{i}, {}, {}, {lo}LL, {hi}LL, {}, {}}}, {}, {}, {}, writes{i}, {}, {}}}",
            c_str(s.name.as_bytes()),
            s.allowed.is_some() as u8,
            values.len(),
            range.is_some() as u8,
            rejected as u8,
            c_str(text.as_bytes()),
            s.skip_ok as u8,
            s.result_is_fd as u8,
            s.makes_pipe as u8,
            writes.len(),
            c_str(result_text(t.results.get(i).copied().flatten()).as_bytes()),
        ));
    }
    let _ = writeln!(
        out,
        "static const struct sq_sqe table[] = {{\n{}\n}};\n",
        table.join(",\n")
    );
    // The SQEs.
    let n = t.sqes.len();
    let _ = write!(
        out,
        "int main(int argc, char **argv)\n{{\n\tstatic struct rs_sqe sqes[{n}];\n\tsetvbuf(stdout, NULL, _IOLBF, 0);\n\trs_setup(argc > 1 ? argv[1] : \"/tmp\");\n\tsq_limits();\n\tsq_fixture();\n\tsq_ring();\n\tsq_arena_map(parts, part_at, part_len, part_writable, {}, SQ_IOVECS_AT);\n",
        t.parts.len()
    );
    for (i, s) in t.sqes.iter().enumerate() {
        let q = &s.sqe;
        let _ = writeln!(
            out,
            "\t/* #{i} {}: {} */\n\tsqes[{i}].opcode = {};\n\tsqes[{i}].flags = {:#x};\n\tsqes[{i}].user_data = {:#x}ull;",
            s.name,
            q,
            q.opcode,
            q.flags,
            q.user_data
        );
        for field in Field::ALL {
            let v = q.get(field);
            let expr = if s.fd_fields.contains(&field) {
                Some(fd_expr(t, v as u32 as i32))
            } else if field.width() == 64 && v >= base && v < end {
                Some(format!("sq_rebase({v:#x}ull)"))
            } else {
                field_literal(field, v)
            };
            if let Some(expr) = expr {
                let _ = writeln!(out, "\tsqes[{i}].{} = {expr};", field.name());
            }
        }
    }
    let _ = writeln!(
        out,
        "\treturn sq_run(sqes, table, {n}, part_at, part_len, {});\n}}",
        t.parts.len()
    );
    out
}
