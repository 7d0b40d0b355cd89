//! The only module that runs `nft` (Debian's nftables package): applies a document that
//! `network::firewall` rendered, deletes berth's table, and tells whether it exists. Every
//! document goes to one `nft -j -f -`, which the kernel applies as one transaction: all of it or
//! none of it.
//!
//! The nftables crate gives the JSON schema; its own runner is not used because it lets nft's
//! error output go to berth's stderr instead of into the error, and panics on a serialisation
//! failure.

use std::borrow::Cow;
use std::process::Stdio;

use nftables::batch::Batch;
use nftables::schema::{NfListObject, NfObject, Nftables, Table};
use nftables::types::NfFamily;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::firewall::{validate_table, FirewallError};

/// The program run, found on PATH.
pub const NFT: &str = "nft";

#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("{what}: run {NFT} (Debian's nftables package): {source}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {NFT} exited with {status}: {stderr}")]
    Failed {
        what: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("{what}: {detail}")]
    Json { what: String, detail: String },
    #[error(transparent)]
    Invalid(#[from] FirewallError),
}

type Result<T> = std::result::Result<T, NftError>;

/// Applies `doc` in one transaction.
pub async fn apply(doc: &Nftables<'_>) -> Result<()> {
    let what = describe(doc);
    let json = serde_json::to_string(doc).map_err(|e| NftError::Json {
        what: what.clone(),
        detail: e.to_string(),
    })?;
    run(&what, &["-j", "-f", "-"], Some(json.as_bytes())).await?;
    Ok(())
}

/// Asks nft whether it would accept `doc` (`nft -c`), changing nothing.
pub async fn check(doc: &Nftables<'_>) -> Result<()> {
    let what = format!("check: {}", describe(doc));
    let json = serde_json::to_string(doc).map_err(|e| NftError::Json {
        what: what.clone(),
        detail: e.to_string(),
    })?;
    run(&what, &["-c", "-j", "-f", "-"], Some(json.as_bytes())).await?;
    Ok(())
}

/// Deletes berth's table `table` (family inet) with everything in it; absent is fine.
pub async fn delete_table(table: &str) -> Result<()> {
    validate_table(table)?;
    let t = Table {
        family: NfFamily::INet,
        name: Cow::Borrowed(table),
        handle: None,
    };
    let mut batch = Batch::new();
    // Add first so that the delete cannot fail on an absent table.
    batch.add(NfListObject::Table(t.clone()));
    batch.delete(NfListObject::Table(t));
    apply(&batch.to_nftables()).await
}

/// True when table `table` of family inet exists.
pub async fn table_exists(table: &str) -> Result<bool> {
    validate_table(table)?;
    let what = format!("look for nftables table inet {table}");
    let out = run(&what, &["-j", "list", "tables", "inet"], None).await?;
    let doc: Nftables = serde_json::from_slice(&out).map_err(|e| NftError::Json {
        what: what.clone(),
        detail: format!("cannot read nft's answer: {e}"),
    })?;
    Ok(doc.objects.iter().any(|o| {
        matches!(o, NfObject::ListObject(NfListObject::Table(t))
            if t.family == NfFamily::INet && t.name == table)
    }))
}

/// "apply nftables table inet berth", naming the first table the document touches.
fn describe(doc: &Nftables<'_>) -> String {
    let table = doc.objects.iter().find_map(|o| match o {
        NfObject::CmdObject(
            nftables::schema::NfCmd::Add(NfListObject::Table(t))
            | nftables::schema::NfCmd::Delete(NfListObject::Table(t)),
        ) => Some(t.name.to_string()),
        _ => None,
    });
    match table {
        Some(t) => format!("apply nftables table inet {t}"),
        None => "apply nftables rules".to_string(),
    }
}

/// Runs nft with `args`, feeding `stdin`; returns its stdout, or an error carrying its stderr.
async fn run(what: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>> {
    let spawn_err = |source| NftError::Spawn {
        what: what.to_string(),
        source,
    };
    let mut child = Command::new(NFT)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn_err)?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // nft reads the whole document before it answers, so writing first cannot deadlock on
        // a full stdout pipe.
        pipe.write_all(input).await.map_err(spawn_err)?;
        drop(pipe);
    }
    let out = child.wait_with_output().await.map_err(spawn_err)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(NftError::Failed {
            what: what.to_string(),
            status: out.status,
            stderr,
        });
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::firewall::render;

    #[test]
    fn describe_names_the_table() {
        let doc = render("berth_x", &[], &[]).unwrap();
        assert_eq!(describe(&doc), "apply nftables table inet berth_x");
    }
}
