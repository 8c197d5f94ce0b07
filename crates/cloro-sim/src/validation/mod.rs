//! Request validation as the real API does it: unknown fields and bad values become 400 with one entry per field.

mod fields;
mod monitor_body;
mod task_body;

pub use monitor_body::parse_monitor;
pub use task_body::{TaskSubmission, parse_task};
