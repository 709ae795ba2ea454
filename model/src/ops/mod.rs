//! The semantics of each op family, as `Fs::plan_*` methods: one module per
//! family the op table lists.

crate::op_table!(families);
