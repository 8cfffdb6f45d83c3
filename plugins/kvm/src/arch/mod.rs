//! x86-64 machine setup: boot CPU state, CPUID, MP table.

pub mod cpuid;
pub mod mptable;
pub mod regs;
