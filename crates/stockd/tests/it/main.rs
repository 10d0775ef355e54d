//! Integration tests: the real `stockd` binary, over HTTP and on the command line.

mod admin;
mod alerts;
mod auth;
mod bad_input;
mod cache;
mod channels;
mod cli;
mod concurrency;
mod connections;
mod crash;
mod events;
mod helpers;
mod holds;
mod idempotency;
mod items;
mod nats;
mod overflow;
mod rate_limits;
mod service;
mod stock;
mod suppliers;
mod webhooks;
