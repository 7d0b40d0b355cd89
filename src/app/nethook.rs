//! berth as an OCI `createRuntime` hook: runc runs `berth __network-hook <hook file>` after it
//! made a task's namespaces and before the container's process starts, with the container's
//! state (its pid among it) on stdin. The hook joins that new network namespace to the
//! container's networks as its hook file says (see [`super::network`]): each bridge made again
//! if missing (after a reboot), one veth pair per network, addresses, MAC, default route, lo
//! up. Whatever it prints on stderr, runc puts into the error the task's creation fails with.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::network::{HookConfig, HOOK_ARG};
use crate::network::netlink::{self, Netlink, VethConfig};
use crate::network::netns::Netns;

/// The part of the OCI state berth reads.
#[derive(serde::Deserialize)]
struct State {
    pid: i64,
}

/// Runs the hook when `args` (argv after the program name) ask for it; returns the exit code.
pub fn run_if_invoked(args: &[std::ffi::OsString]) -> Option<i32> {
    if args.first().map(|a| a.as_os_str()) != Some(HOOK_ARG.as_ref()) {
        return None;
    }
    let Some(file) = args.get(1) else {
        eprintln!("berth {HOOK_ARG}: the hook file is missing from the arguments");
        return Some(2);
    };
    let file = PathBuf::from(file);
    match run(&file) {
        Ok(()) => Some(0),
        Err(e) => {
            eprintln!("berth network hook ({}): {e}", file.display());
            Some(1)
        }
    }
}

fn run(file: &Path) -> Result<(), String> {
    let mut stdin = String::new();
    std::io::stdin()
        .read_to_string(&mut stdin)
        .map_err(|e| format!("read the container state from stdin: {e}"))?;
    let state: State =
        serde_json::from_str(&stdin).map_err(|e| format!("parse the container state: {e}"))?;
    if state.pid <= 0 {
        return Err(format!("the container state has no pid ({})", state.pid));
    }
    let config = HookConfig::read(file)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("start the runtime: {e}"))?;
    rt.block_on(join(&config, state.pid))
}

/// Joins the namespace of process `pid` to the networks of `config`.
pub async fn join(config: &HookConfig, pid: i64) -> Result<(), String> {
    let ns =
        Netns::open_path(Path::new(&format!("/proc/{pid}/ns/net"))).map_err(|e| e.to_string())?;
    let host = Netlink::host().map_err(|e| e.to_string())?;
    for i in &config.interfaces {
        super::network::bridge_up(&host, &i.bridge, i.mtu, &i.bridge_addrs)
            .await
            .map_err(|e| format!("network {}: {e}", i.network))?;
        netlink::attach(
            &host,
            &ns,
            &VethConfig {
                host_name: i.host_veth.clone(),
                bridge: i.bridge.clone(),
                ifname: i.ifname.clone(),
                mtu: i.mtu,
                mac: Some(i.mac),
                addresses: i.addrs.clone(),
                gateways: i.gateways.clone(),
            },
        )
        .await
        .map_err(|e| format!("network {}: {e}", i.network))?;
        // a container reaching its own published port through a host address: the frame
        // goes back out the port it came in by
        host.set_hairpin(&i.host_veth, true)
            .await
            .map_err(|e| format!("network {}: {e}", i.network))?;
    }
    // after a reboot the kernel has no table of berth's until something renders it
    super::network::ensure_firewall(&config.lib, &config.run, &config.nft_table).await?;
    // the container's names, served from now on by berth's DNS (started if it is not running)
    for i in &config.interfaces {
        crate::dns::write_network(&config.run, &i.dns_network()).map_err(|e| e.to_string())?;
    }
    for (network, record) in &config.dns {
        crate::dns::write_container(&config.run, network, record).map_err(|e| e.to_string())?;
    }
    if !config.dns.is_empty() {
        let exe = std::env::current_exe().map_err(|e| format!("find berth's own binary: {e}"))?;
        crate::dns::ensure(&config.run, &exe).map_err(|e| e.to_string())?;
    }
    Ok(())
}
