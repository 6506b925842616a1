//! The black-box suite: each module drives spawned hubs (real broker, registry, HTTP) through one
//! area of the contract, on SQLite and PostgreSQL.

mod bad_input;
mod deployment;
mod dispatch;
mod exceptions;
mod executors;
mod foundation;
mod mtls;
mod openapi;
mod operations;
mod realtime;
mod reconcile;
mod registry;
mod transports;
mod webhooks;
