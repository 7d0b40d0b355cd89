//! The Tasks service: the running side of a container (its init process, created on a rootfs
//! with stdio URIs, started, signalled, waited for and deleted) and the extra processes `exec`
//! adds to it. Exit statuses and times come out as plain data.

use std::time::SystemTime;

use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::{
    CloseIoRequest, CreateTaskRequest, DeleteProcessRequest, DeleteTaskRequest, ExecProcessRequest,
    GetRequest, KillRequest, ListPidsRequest, ListTasksRequest, PauseTaskRequest, ResizePtyRequest,
    ResumeTaskRequest, StartRequest, WaitRequest,
};
use containerd_client::tonic;
use containerd_client::types::v1::{Process, Status};

use super::images::time_from_proto;
use super::snapshots::mount_into_proto;
use super::{Client, Mount, Result};

/// The type URL containerd expects for a JSON OCI process spec (what `exec` runs).
const PROCESS_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";

/// Where a process's standard streams go, as URIs the shim understands:
/// - a plain path: a FIFO the caller made and reads or writes (attach, `exec -it`);
/// - `file:///path`: the shim appends the raw bytes, both streams mixed;
/// - `binary:///path?k=v`: the shim runs that program as the log driver (fd 3 stdout, fd 4
///   stderr); give stdout and stderr the same URI, as containerd's own client does;
/// - empty: the stream goes nowhere (`/dev/null`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stdio {
    /// `None`: no stdin (the process reads end of file).
    pub stdin: Option<String>,
    pub stdout: String,
    pub stderr: String,
    /// Allocate a pseudo-terminal; stdout carries both streams then and stderr must be empty.
    pub terminal: bool,
}

impl Stdio {
    /// No stdin; stdout and stderr both to `uri` (a `file://` or `binary://` log URI).
    pub fn log_uri(uri: &str) -> Stdio {
        Stdio {
            stdin: None,
            stdout: uri.to_owned(),
            stderr: uri.to_owned(),
            terminal: false,
        }
    }

    /// Both streams appended to the file at `path` (made by the shim if missing). The path goes
    /// into the URI as it is: the shim parses it as a URL, so it must not hold `?`, `#` or `%`.
    pub fn file(path: &std::path::Path) -> Stdio {
        Stdio::log_uri(&format!("file://{}", path.display()))
    }
}

/// The state of a task or exec process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Created,
    Running,
    Stopped,
    Paused,
    Pausing,
    Unknown,
}

/// What containerd reports about a task (or one exec process of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    pub container_id: String,
    /// The process's id: the exec id of an exec process, the container id for the task's init
    /// process (containerd's convention).
    pub id: String,
    pub pid: u32,
    pub status: TaskStatus,
    /// Meaningful once `status` is `Stopped`.
    pub exit_status: u32,
    pub exited_at: Option<SystemTime>,
}

/// How a process ended. The shim reports a process killed by signal N as `128 + N` (143 for
/// SIGTERM, 137 for SIGKILL), as Docker shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    pub code: u32,
    pub exited_at: Option<SystemTime>,
}

impl Client {
    /// Creates the task of container `container_id` on `rootfs` (the mounts of its snapshot)
    /// and returns the pid of its init process, which runc holds before `exec` until
    /// [`Client::task_start`].
    pub async fn task_create(
        &self,
        container_id: &str,
        rootfs: &[Mount],
        stdio: &Stdio,
    ) -> Result<u32> {
        let reply = TasksClient::new(self.channel.clone())
            .create(self.request(CreateTaskRequest {
                container_id: container_id.to_owned(),
                rootfs: rootfs.iter().cloned().map(mount_into_proto).collect(),
                stdin: stdio.stdin.clone().unwrap_or_default(),
                stdout: stdio.stdout.clone(),
                stderr: stdio.stderr.clone(),
                terminal: stdio.terminal,
                ..Default::default()
            }))
            .await
            .map_err(|s| self.status_error("task create", s))?;
        Ok(reply.into_inner().pid)
    }

    /// Starts the created task's init process; returns its pid.
    pub async fn task_start(&self, container_id: &str) -> Result<u32> {
        self.start(container_id, "", "task start").await
    }

    /// The task of `container_id`, or `None` when it has none.
    pub async fn task_get(&self, container_id: &str) -> Result<Option<TaskInfo>> {
        self.get(container_id, "", "task get").await
    }

    /// Every task in the namespace (matching the containerd filter `filter`, "" for all).
    pub async fn task_list(&self, filter: &str) -> Result<Vec<TaskInfo>> {
        let reply = TasksClient::new(self.channel.clone())
            .list(self.request(ListTasksRequest {
                filter: filter.to_owned(),
            }))
            .await
            .map_err(|s| self.status_error("task list", s))?;
        Ok(reply
            .into_inner()
            .tasks
            .into_iter()
            // the init process of each task: its id is the container's
            .map(|p| {
                let container_id = p.id.clone();
                info_from_proto(p, &container_id)
            })
            .collect())
    }

    /// Sends `signal` to the task's init process, or with `all` to every process in it.
    pub async fn task_kill(&self, container_id: &str, signal: u32, all: bool) -> Result<()> {
        self.kill(container_id, "", signal, all, "task kill").await
    }

    /// Waits until the task's init process has exited. Long-polls containerd; dropping the
    /// future cancels the call.
    pub async fn task_wait(&self, container_id: &str) -> Result<ExitStatus> {
        self.wait(container_id, "", "task wait").await
    }

    /// Deletes the task (it must have stopped) and returns how it ended; `None` when there was
    /// no task.
    pub async fn task_delete(&self, container_id: &str) -> Result<Option<ExitStatus>> {
        match TasksClient::new(self.channel.clone())
            .delete(self.request(DeleteTaskRequest {
                container_id: container_id.to_owned(),
            }))
            .await
        {
            Ok(r) => {
                let r = r.into_inner();
                Ok(Some(ExitStatus {
                    code: r.exit_status,
                    exited_at: time_from_proto(r.exited_at),
                }))
            }
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(self.status_error("task delete", s)),
        }
    }

    /// The host pids of every process in the task (for `top`).
    pub async fn task_pids(&self, container_id: &str) -> Result<Vec<u32>> {
        let reply = TasksClient::new(self.channel.clone())
            .list_pids(self.request(ListPidsRequest {
                container_id: container_id.to_owned(),
            }))
            .await
            .map_err(|s| self.status_error("task pids", s))?;
        Ok(reply
            .into_inner()
            .processes
            .into_iter()
            .map(|p| p.pid)
            .collect())
    }

    /// Freezes every process of the task (the cgroup freezer).
    pub async fn task_pause(&self, container_id: &str) -> Result<()> {
        TasksClient::new(self.channel.clone())
            .pause(self.request(PauseTaskRequest {
                container_id: container_id.to_owned(),
            }))
            .await
            .map_err(|s| self.status_error("task pause", s))?;
        Ok(())
    }

    /// Thaws a paused task.
    pub async fn task_resume(&self, container_id: &str) -> Result<()> {
        TasksClient::new(self.channel.clone())
            .resume(self.request(ResumeTaskRequest {
                container_id: container_id.to_owned(),
            }))
            .await
            .map_err(|s| self.status_error("task resume", s))?;
        Ok(())
    }

    /// Resizes the init process's terminal.
    pub async fn task_resize(&self, container_id: &str, width: u32, height: u32) -> Result<()> {
        self.resize(container_id, "", width, height, "task resize")
            .await
    }

    /// Closes the write end of a process's stdin (`exec_id` "" for the init process), so it
    /// reads end of file.
    pub async fn close_io(&self, container_id: &str, exec_id: &str) -> Result<()> {
        TasksClient::new(self.channel.clone())
            .close_io(self.request(CloseIoRequest {
                container_id: container_id.to_owned(),
                exec_id: exec_id.to_owned(),
                stdin: true,
            }))
            .await
            .map_err(|s| self.status_error("close io", s))?;
        Ok(())
    }

    /// Adds process `exec_id` to the running task: `process_spec_json` is an OCI process spec
    /// (args, env, cwd, user, terminal) as JSON. It runs once [`Client::exec_start`] starts it.
    pub async fn exec(
        &self,
        container_id: &str,
        exec_id: &str,
        process_spec_json: Vec<u8>,
        stdio: &Stdio,
    ) -> Result<()> {
        TasksClient::new(self.channel.clone())
            .exec(self.request(ExecProcessRequest {
                container_id: container_id.to_owned(),
                exec_id: exec_id.to_owned(),
                stdin: stdio.stdin.clone().unwrap_or_default(),
                stdout: stdio.stdout.clone(),
                stderr: stdio.stderr.clone(),
                terminal: stdio.terminal,
                spec: Some(prost_types::Any {
                    type_url: PROCESS_TYPE_URL.into(),
                    value: process_spec_json,
                }),
            }))
            .await
            .map_err(|s| self.status_error("exec", s))?;
        Ok(())
    }

    /// Starts exec process `exec_id`; returns its pid.
    pub async fn exec_start(&self, container_id: &str, exec_id: &str) -> Result<u32> {
        self.start(container_id, exec_id, "exec start").await
    }

    /// Exec process `exec_id` of the task, or `None`.
    pub async fn exec_get(&self, container_id: &str, exec_id: &str) -> Result<Option<TaskInfo>> {
        self.get(container_id, exec_id, "exec get").await
    }

    /// Sends `signal` to exec process `exec_id`.
    pub async fn exec_kill(&self, container_id: &str, exec_id: &str, signal: u32) -> Result<()> {
        self.kill(container_id, exec_id, signal, false, "exec kill")
            .await
    }

    /// Waits until exec process `exec_id` has exited; dropping the future cancels the call.
    pub async fn exec_wait(&self, container_id: &str, exec_id: &str) -> Result<ExitStatus> {
        self.wait(container_id, exec_id, "exec wait").await
    }

    /// Resizes exec process `exec_id`'s terminal.
    pub async fn exec_resize(
        &self,
        container_id: &str,
        exec_id: &str,
        width: u32,
        height: u32,
    ) -> Result<()> {
        self.resize(container_id, exec_id, width, height, "exec resize")
            .await
    }

    /// Deletes exited exec process `exec_id` and returns how it ended; `None` when there was no
    /// such process (or no task).
    pub async fn exec_delete(
        &self,
        container_id: &str,
        exec_id: &str,
    ) -> Result<Option<ExitStatus>> {
        match TasksClient::new(self.channel.clone())
            .delete_process(self.request(DeleteProcessRequest {
                container_id: container_id.to_owned(),
                exec_id: exec_id.to_owned(),
            }))
            .await
        {
            Ok(r) => {
                let r = r.into_inner();
                Ok(Some(ExitStatus {
                    code: r.exit_status,
                    exited_at: time_from_proto(r.exited_at),
                }))
            }
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(self.status_error("exec delete", s)),
        }
    }

    async fn start(&self, container_id: &str, exec_id: &str, call: &'static str) -> Result<u32> {
        let reply = TasksClient::new(self.channel.clone())
            .start(self.request(StartRequest {
                container_id: container_id.to_owned(),
                exec_id: exec_id.to_owned(),
            }))
            .await
            .map_err(|s| self.status_error(call, s))?;
        Ok(reply.into_inner().pid)
    }

    async fn get(
        &self,
        container_id: &str,
        exec_id: &str,
        call: &'static str,
    ) -> Result<Option<TaskInfo>> {
        match TasksClient::new(self.channel.clone())
            .get(self.request(GetRequest {
                container_id: container_id.to_owned(),
                exec_id: exec_id.to_owned(),
            }))
            .await
        {
            Ok(r) => Ok(r
                .into_inner()
                .process
                .map(|p| info_from_proto(p, container_id))),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(self.status_error(call, s)),
        }
    }

    async fn kill(
        &self,
        container_id: &str,
        exec_id: &str,
        signal: u32,
        all: bool,
        call: &'static str,
    ) -> Result<()> {
        TasksClient::new(self.channel.clone())
            .kill(self.request(KillRequest {
                container_id: container_id.to_owned(),
                exec_id: exec_id.to_owned(),
                signal,
                all,
            }))
            .await
            .map_err(|s| self.status_error(call, s))?;
        Ok(())
    }

    async fn wait(
        &self,
        container_id: &str,
        exec_id: &str,
        call: &'static str,
    ) -> Result<ExitStatus> {
        let reply = TasksClient::new(self.channel.clone())
            .wait(self.request(WaitRequest {
                container_id: container_id.to_owned(),
                exec_id: exec_id.to_owned(),
            }))
            .await
            .map_err(|s| self.status_error(call, s))?
            .into_inner();
        Ok(ExitStatus {
            code: reply.exit_status,
            exited_at: time_from_proto(reply.exited_at),
        })
    }

    async fn resize(
        &self,
        container_id: &str,
        exec_id: &str,
        width: u32,
        height: u32,
        call: &'static str,
    ) -> Result<()> {
        TasksClient::new(self.channel.clone())
            .resize_pty(self.request(ResizePtyRequest {
                container_id: container_id.to_owned(),
                exec_id: exec_id.to_owned(),
                width,
                height,
            }))
            .await
            .map_err(|s| self.status_error(call, s))?;
        Ok(())
    }
}

fn status_from_proto(status: i32) -> TaskStatus {
    match Status::try_from(status) {
        Ok(Status::Created) => TaskStatus::Created,
        Ok(Status::Running) => TaskStatus::Running,
        Ok(Status::Stopped) => TaskStatus::Stopped,
        Ok(Status::Paused) => TaskStatus::Paused,
        Ok(Status::Pausing) => TaskStatus::Pausing,
        Ok(Status::Unknown) | Err(_) => TaskStatus::Unknown,
    }
}

/// containerd 1.6 and 1.7 leave `Process.container_id` empty in Get and List answers; the
/// caller knows it.
fn info_from_proto(p: Process, container_id: &str) -> TaskInfo {
    TaskInfo {
        container_id: if p.container_id.is_empty() {
            container_id.to_owned()
        } else {
            p.container_id
        },
        id: p.id,
        pid: p.pid,
        status: status_from_proto(p.status),
        exit_status: p.exit_status,
        exited_at: time_from_proto(p.exited_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_uris_go_to_both_streams() {
        let s = Stdio::file(std::path::Path::new("/tmp/x/out.log"));
        assert_eq!(s.stdout, "file:///tmp/x/out.log");
        assert_eq!(s.stderr, s.stdout);
        assert_eq!(s.stdin, None);
        assert!(!s.terminal);
        let b = Stdio::log_uri("binary:///usr/bin/berth?_berth_log=1");
        assert_eq!(b.stdout, b.stderr);
    }

    #[test]
    fn statuses_map_and_unknown_values_are_unknown() {
        assert_eq!(
            status_from_proto(Status::Running as i32),
            TaskStatus::Running
        );
        assert_eq!(
            status_from_proto(Status::Stopped as i32),
            TaskStatus::Stopped
        );
        assert_eq!(
            status_from_proto(Status::Pausing as i32),
            TaskStatus::Pausing
        );
        assert_eq!(status_from_proto(99), TaskStatus::Unknown);
    }

    #[test]
    fn exec_id_and_exit_come_through() {
        let info = info_from_proto(
            Process {
                container_id: "web-1".into(),
                id: "exec-1".into(),
                pid: 42,
                status: Status::Stopped as i32,
                exit_status: 143,
                exited_at: Some(prost_types::Timestamp {
                    seconds: 10,
                    nanos: 5,
                }),
                ..Default::default()
            },
            "ignored",
        );
        assert_eq!(info.id, "exec-1");
        assert_eq!(info.container_id, "web-1");
        let filled = info_from_proto(Process::default(), "db-1");
        assert_eq!(filled.container_id, "db-1");
        assert_eq!(info.exit_status, 143);
        assert_eq!(
            info.exited_at,
            Some(SystemTime::UNIX_EPOCH + std::time::Duration::new(10, 5))
        );
    }
}
