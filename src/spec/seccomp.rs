//! The default seccomp filter: the syscalls Docker's default profile allows, as an OCI
//! `linux.seccomp` section. Everything not listed fails with EPERM. Some syscalls are allowed
//! only when the container holds the capability that makes them meaningful (mount and
//! namespaces with CAP_SYS_ADMIN, ptrace family with CAP_SYS_PTRACE, ...), and without
//! CAP_SYS_ADMIN `clone` may not ask for new namespaces and `clone3` answers ENOSYS, so libcs
//! fall back to `clone`, whose flags can be inspected.
//!
//! The lists are facts about Linux syscalls and about which Docker lets through, written out
//! here; the kernel-version gate Docker puts on the ptrace family (4.8, when ptrace stopped
//! being a way around seccomp) is taken as met. Pure: no I/O.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};
use oci_spec::OciSpecError;

/// EPERM, for everything not allowed.
const EPERM: u32 = 1;
/// ENOSYS, for `clone3` without CAP_SYS_ADMIN (its flags live in memory seccomp cannot read).
const ENOSYS: u32 = 38;

/// `CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
/// CLONE_NEWCGROUP`: the namespace flags `clone` may not carry without CAP_SYS_ADMIN.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// `AF_VSOCK`: host/guest sockets, refused to containers.
const AF_VSOCK: u64 = 40;

/// Allowed to every container.
#[rustfmt::skip]
const ALLOWED: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
    "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
    "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect",
    "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
    "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old",
    "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat",
    "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod",
    "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync",
    "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64",
    "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
    "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat",
    "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid",
    "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername",
    "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
    "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage",
    "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday",
    "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
    "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack",
    "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
    "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
    "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd",
    "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat",
    "_newselect", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal",
    "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll",
    "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease",
    "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
    "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64",
    "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat", "renameat2",
    "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
    "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
    "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
    "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
    "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
    "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
    "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
    "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr",
    "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
    "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64",
    "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs",
    "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
    "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
    "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat",
    "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4",
    "waitid", "waitpid", "write", "writev",
    // the ptrace family: harmless to seccomp since Linux 4.8
    "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
    "ptrace",
];

/// `personality` personas allowed: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and
/// the query value 0xffffffff.
const PERSONAS: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// Syscalls allowed with a capability.
#[rustfmt::skip]
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
            "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree",
            "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname",
            "setns", "syslog", "umount", "umount2", "unshare",
        ],
    ),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Seccomp architectures and arch-only syscalls for the machine berth was built for (Rust's
/// `std::env::consts::ARCH` names).
fn arch(machine: &str) -> (Vec<Arch>, &'static [&'static str]) {
    match machine {
        "x86_64" => (
            vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
            &["arch_prctl", "modify_ldt"],
        ),
        "x86" => (vec![Arch::ScmpArchX86], &["arch_prctl", "modify_ldt"]),
        "aarch64" => (
            vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
            &[
                "arm_fadvise64_64",
                "arm_sync_file_range",
                "sync_file_range2",
                "breakpoint",
                "cacheflush",
                "set_tls",
            ],
        ),
        "arm" => (
            vec![Arch::ScmpArchArm],
            &[
                "arm_fadvise64_64",
                "arm_sync_file_range",
                "sync_file_range2",
                "breakpoint",
                "cacheflush",
                "set_tls",
            ],
        ),
        "powerpc64" => (
            vec![
                Arch::ScmpArchPpc64le,
                Arch::ScmpArchPpc64,
                Arch::ScmpArchPpc,
            ],
            &["sync_file_range2", "swapcontext"],
        ),
        "s390x" => (
            vec![Arch::ScmpArchS390x, Arch::ScmpArchS390],
            &[
                "s390_pci_mmio_read",
                "s390_pci_mmio_write",
                "s390_runtime_instr",
            ],
        ),
        "riscv64" => (vec![Arch::ScmpArchRiscv64], &["riscv_flush_icache"]),
        "loongarch64" => (vec![Arch::ScmpArchLoongarch64], &[]),
        _ => (vec![Arch::ScmpArchNative], &[]),
    }
}

fn rule(names: &[&str], action: LinuxSeccompAction) -> LinuxSyscall {
    let mut r = LinuxSyscall::default();
    r.set_names(names.iter().map(|s| s.to_string()).collect());
    r.set_action(action);
    r
}

fn arg(
    index: usize,
    value: u64,
    value_two: Option<u64>,
    op: LinuxSeccompOperator,
) -> Result<LinuxSeccompArg, OciSpecError> {
    let b = LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op);
    match value_two {
        Some(v) => b.value_two(v).build(),
        None => b.build(),
    }
}

/// Docker's default filter for a container holding `capabilities` (the bounding set, e.g.
/// `CAP_CHOWN`) on `machine` (`std::env::consts::ARCH`).
pub fn default_profile(
    capabilities: &[String],
    machine: &str,
) -> Result<LinuxSeccomp, OciSpecError> {
    use LinuxSeccompAction::{ScmpActAllow as Allow, ScmpActErrno as Errno};
    let has = |c: &str| capabilities.iter().any(|x| x == c);
    let (architectures, arch_only) = arch(machine);
    let mut rules = vec![rule(ALLOWED, Allow)];
    if !arch_only.is_empty() {
        rules.push(rule(arch_only, Allow));
    }
    for &p in PERSONAS {
        let mut r = rule(&["personality"], Allow);
        r.set_args(Some(vec![arg(
            0,
            p,
            None,
            LinuxSeccompOperator::ScmpCmpEq,
        )?]));
        rules.push(r);
    }
    let mut socket = rule(&["socket"], Allow);
    socket.set_args(Some(vec![arg(
        0,
        AF_VSOCK,
        None,
        LinuxSeccompOperator::ScmpCmpNe,
    )?]));
    rules.push(socket);
    for (cap, names) in BY_CAPABILITY {
        if has(cap) {
            rules.push(rule(names, Allow));
        }
    }
    if !has("CAP_SYS_ADMIN") {
        // clone's flags are its first argument, except on s390 where they are the second
        let index = if machine == "s390x" { 1 } else { 0 };
        let mut clone = rule(&["clone"], Allow);
        clone.set_args(Some(vec![arg(
            index,
            CLONE_NAMESPACE_FLAGS,
            Some(0),
            LinuxSeccompOperator::ScmpCmpMaskedEq,
        )?]));
        rules.push(clone);
        let mut clone3 = rule(&["clone3"], Errno);
        clone3.set_errno_ret(Some(ENOSYS));
        rules.push(clone3);
    }
    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(Errno);
    profile.set_default_errno_ret(Some(EPERM));
    profile.set_architectures(Some(architectures));
    profile.set_syscalls(Some(rules));
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(p: &LinuxSeccomp) -> Vec<String> {
        p.syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|r| r.action() == LinuxSeccompAction::ScmpActAllow && r.args().is_none())
            .flat_map(|r| r.names().clone())
            .collect()
    }

    fn caps(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_refuse_mount_and_namespaces() {
        let p = default_profile(&caps(&["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]), "x86_64").unwrap();
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        assert_eq!(
            p.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        let a = allowed(&p);
        for s in ["read", "execve", "clone_never", "arch_prctl", "ptrace"] {
            assert_eq!(a.iter().any(|x| x == s), s != "clone_never", "{s}");
        }
        for s in [
            "mount", "unshare", "setns", "reboot", "chroot", "bpf", "clone", "clone3",
        ] {
            assert!(!a.iter().any(|x| x == s), "{s} is allowed unconditionally");
        }
        let rules = p.syscalls().as_ref().unwrap();
        let clone = rules
            .iter()
            .find(|r| r.names() == &["clone"])
            .expect("a clone rule");
        let args = clone.args().as_ref().unwrap();
        assert_eq!(
            (
                args[0].index(),
                args[0].value(),
                args[0].value_two(),
                args[0].op()
            ),
            (
                0,
                0x7E02_0000,
                Some(0),
                LinuxSeccompOperator::ScmpCmpMaskedEq
            )
        );
        let clone3 = rules.iter().find(|r| r.names() == &["clone3"]).unwrap();
        assert_eq!(
            (clone3.action(), clone3.errno_ret()),
            (LinuxSeccompAction::ScmpActErrno, Some(38))
        );
        let socket = rules.iter().find(|r| r.names() == &["socket"]).unwrap();
        assert_eq!(
            socket.args().as_ref().unwrap()[0].op(),
            LinuxSeccompOperator::ScmpCmpNe
        );
        assert_eq!(
            rules
                .iter()
                .filter(|r| r.names() == &["personality"])
                .count(),
            PERSONAS.len()
        );
    }

    #[test]
    fn capabilities_open_their_syscalls() {
        let p = default_profile(&caps(&["CAP_SYS_ADMIN", "CAP_SYS_TIME"]), "aarch64").unwrap();
        let a = allowed(&p);
        for s in [
            "mount",
            "unshare",
            "clone",
            "clone3",
            "settimeofday",
            "cacheflush",
        ] {
            assert!(a.iter().any(|x| x == s), "{s}");
        }
        let rules = p.syscalls().as_ref().unwrap();
        assert!(!rules
            .iter()
            .any(|r| r.action() == LinuxSeccompAction::ScmpActErrno));
        assert!(!a.iter().any(|x| x == "arch_prctl" || x == "reboot"));
    }

    #[test]
    fn s390_clone_flags_are_the_second_argument() {
        let p = default_profile(&[], "s390x").unwrap();
        let rules = p.syscalls().as_ref().unwrap();
        let clone = rules.iter().find(|r| r.names() == &["clone"]).unwrap();
        assert_eq!(clone.args().as_ref().unwrap()[0].index(), 1);
    }

    #[test]
    fn no_name_is_listed_twice_in_the_common_list() {
        let mut v = ALLOWED.to_vec();
        v.sort_unstable();
        let n = v.len();
        v.dedup();
        assert_eq!(v.len(), n);
    }
}
