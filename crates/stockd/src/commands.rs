//! The one-shot commands: migrate, verify and keys.

use std::process::ExitCode;

use stock_core::Role;
use stock_http::{generate_key, hash_secret};
use stock_store::{now_ms, ApiKey};

use crate::config::Config;
use crate::{open_and_migrate, open_existing_store, open_store};

pub async fn migrate(config: &Config) -> anyhow::Result<ExitCode> {
    let (_, applied) = open_and_migrate(config).await?;
    if applied == 0 {
        println!("The database schema is up to date.");
    } else {
        println!("Applied {applied} migration(s); the database schema is up to date.");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn verify(config: &Config) -> anyhow::Result<ExitCode> {
    let store = open_existing_store(config).await?;
    let report = store.verify().await?;
    if report.is_clean() {
        println!(
            "OK: all {} levels equal the sum of their ledger ({} ledger rows), \
             and their reserved stock equals their {} active holds.",
            report.levels_checked, report.ledger_entries, report.active_holds
        );
        return Ok(ExitCode::SUCCESS);
    }
    for mismatch in &report.mismatches {
        println!(
            "MISMATCH item {} at {}: on_hand {} but the ledger sums to {}; reserved {} but the ledger sums to {}",
            mismatch.item,
            mismatch.location,
            mismatch.on_hand,
            mismatch.on_hand_from_ledger,
            mismatch.reserved,
            mismatch.reserved_from_ledger
        );
    }
    for mismatch in &report.hold_mismatches {
        println!(
            "MISMATCH item {} at {}: reserved {} but its active holds add up to {}",
            mismatch.item, mismatch.location, mismatch.reserved, mismatch.held
        );
    }
    if report.orphan_entries > 0 {
        println!(
            "MISMATCH {} ledger rows name an item and location that have no level",
            report.orphan_entries
        );
    }
    println!(
        "FAILED: of {} levels, {} differ from their ledger and {} from their active holds; \
         {} ledger rows have no level.",
        report.levels_checked,
        report.mismatches.len(),
        report.hold_mismatches.len(),
        report.orphan_entries
    );
    Ok(ExitCode::from(1))
}

/// The longest key name accepted.
const KEY_NAME_LENGTH_MAX: usize = 100;

pub async fn create_key(config: &Config, role: Role, name: &str) -> anyhow::Result<ExitCode> {
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty() && name.chars().count() <= KEY_NAME_LENGTH_MAX,
        "--name must be 1 to {KEY_NAME_LENGTH_MAX} characters"
    );
    let store = open_store(config).await?;
    let key = generate_key();
    let created = store
        .create_key(&key.id, name, role, &hash_secret(&key.secret))
        .await?;
    println!(
        "Created API key {} ({}, {:?}).",
        created.id,
        created.role.as_str(),
        created.name
    );
    println!("Its secret is shown this once; keep it now:");
    println!("{}", key.secret);
    Ok(ExitCode::SUCCESS)
}

pub async fn create_user(config: &Config, name: &str) -> anyhow::Result<ExitCode> {
    use stock_http::admin::password;
    let name = name.trim();
    anyhow::ensure!(
        stock_http::admin::valid_user_name(name),
        "--name must be 1 to 64 letters, digits, - or _"
    );
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let secret = line.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(
        (password::LENGTH_MIN..=password::LENGTH_MAX).contains(&secret.chars().count()),
        "the password (first line of standard input) must be {} to {} characters",
        password::LENGTH_MIN,
        password::LENGTH_MAX
    );
    let store = open_store(config).await?;
    let hash = password::hash(secret);
    if !store.create_user(name, &hash).await? {
        eprintln!("stockd: a user named {name:?} exists already");
        return Ok(ExitCode::from(1));
    }
    println!("Created console user {name:?}: sign in at /admin with this name and password.");
    Ok(ExitCode::SUCCESS)
}

fn age(key: &ApiKey) -> String {
    let days = (now_ms() - key.created_at_ms) / 86_400_000;
    format!("{days}d")
}

pub async fn list_keys(config: &Config) -> anyhow::Result<ExitCode> {
    let store = open_existing_store(config).await?;
    let keys = store.keys().await?;
    if keys.is_empty() {
        println!("No keys yet: `stockd serve` creates the first admin key.");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<18} {:<11} {:<8} {:<6} NAME",
        "ID", "ROLE", "STATE", "AGE"
    );
    for key in &keys {
        let state = if key.revoked_at_ms.is_some() {
            "revoked"
        } else {
            "live"
        };
        println!(
            "{:<18} {:<11} {:<8} {:<6} {}",
            key.id,
            key.role.as_str(),
            state,
            age(key),
            key.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn revoke_key(config: &Config, id: &str) -> anyhow::Result<ExitCode> {
    let store = open_existing_store(config).await?;
    if store.revoke_key(id).await? {
        println!("Revoked {id}; it is refused from now on.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("No live key {id}: it does not exist or was revoked before.");
        Ok(ExitCode::from(1))
    }
}
