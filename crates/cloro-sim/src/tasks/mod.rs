//! The async task queue: storage and ordering, the worker that runs tasks, their JSON views and webhooks.

pub mod dispatcher;
pub mod signing;
pub mod store;
pub mod view;
pub mod webhook;
