//! Conformance suite for ringspec: see tests/.
