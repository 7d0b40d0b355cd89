//! The Events service: a live stream of what happens in containerd (task exits, starts, OOM
//! kills, container records made and removed), decoded into plain data. containerd keeps no
//! history: only what happens after the subscription is live is seen, so [`Client::subscribe`]
//! returns only once it is.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use containerd_client::events::{
    ContainerCreate, ContainerDelete, ContainerUpdate, TaskCreate, TaskDelete, TaskExecAdded,
    TaskExecStarted, TaskExit, TaskOom, TaskPaused, TaskResumed, TaskStart,
};
use containerd_client::services::v1::events_client::EventsClient;
use containerd_client::services::v1::{PublishRequest, SubscribeRequest};
use containerd_client::tonic;
use containerd_client::types::Envelope;
use futures_util::Stream;
use prost_types::Any;

use super::images::time_from_proto;
use super::{Client, Result};

/// Topics under this prefix are the markers `subscribe` publishes to learn that its
/// subscription is live; they never reach a caller.
const READY_TOPIC_PREFIX: &str = "/berth/subscribed/";

/// How long `subscribe` waits for its subscription to go live.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub timestamp: Option<SystemTime>,
    /// The namespace it happened in.
    pub namespace: String,
    /// e.g. `/tasks/exit`.
    pub topic: String,
    pub payload: Payload,
}

/// What berth reads out of an event; topics it does not use are `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    TaskCreate {
        container_id: String,
        pid: u32,
    },
    TaskStart {
        container_id: String,
        pid: u32,
    },
    /// A process of the task exited: `id` is the container id for the init process and the
    /// exec id for an exec process.
    TaskExit {
        container_id: String,
        id: String,
        pid: u32,
        exit_status: u32,
        exited_at: Option<SystemTime>,
    },
    TaskDelete {
        container_id: String,
        id: String,
        pid: u32,
        exit_status: u32,
        exited_at: Option<SystemTime>,
    },
    TaskOom {
        container_id: String,
    },
    TaskPaused {
        container_id: String,
    },
    TaskResumed {
        container_id: String,
    },
    TaskExecAdded {
        container_id: String,
        exec_id: String,
    },
    TaskExecStarted {
        container_id: String,
        exec_id: String,
        pid: u32,
    },
    ContainerCreate {
        id: String,
        image: String,
        runtime: String,
    },
    ContainerUpdate {
        id: String,
        image: String,
        labels: BTreeMap<String, String>,
    },
    ContainerDelete {
        id: String,
    },
    /// A topic berth does not decode, or a payload that did not decode.
    Other,
}

impl Payload {
    /// The container the event is about, for task and container events.
    pub fn container_id(&self) -> Option<&str> {
        match self {
            Payload::TaskCreate { container_id, .. }
            | Payload::TaskStart { container_id, .. }
            | Payload::TaskExit { container_id, .. }
            | Payload::TaskDelete { container_id, .. }
            | Payload::TaskOom { container_id }
            | Payload::TaskPaused { container_id }
            | Payload::TaskResumed { container_id }
            | Payload::TaskExecAdded { container_id, .. }
            | Payload::TaskExecStarted { container_id, .. } => Some(container_id),
            Payload::ContainerCreate { id, .. }
            | Payload::ContainerUpdate { id, .. }
            | Payload::ContainerDelete { id } => Some(id),
            Payload::Other => None,
        }
    }
}

/// The live events of a subscription; ends when containerd closes it.
pub struct EventStream {
    inner: tonic::Streaming<Envelope>,
    client: Client,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("client", &self.client)
            .finish()
    }
}

impl Stream for EventStream {
    type Item = Result<Event>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(envelope))) => {
                    if envelope.topic.starts_with(READY_TOPIC_PREFIX) {
                        continue;
                    }
                    Poll::Ready(Some(Ok(event_from_proto(envelope))))
                }
                Poll::Ready(Some(Err(s))) => {
                    Poll::Ready(Some(Err(self.client.status_error("events", s))))
                }
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

impl Client {
    /// Subscribes to events matching any of containerd's `filters` (each a comma-separated
    /// conjunction, e.g. `namespace==berth,topic~="^/tasks/"`); all events of every namespace
    /// with none. Returns once containerd has registered the subscription, so whatever the
    /// caller does next is seen.
    ///
    /// containerd sends no response headers before the first event, so "registered" is learnt
    /// by publishing a marker event (in this client's namespace, on a topic of its own) until it
    /// comes back; markers are never yielded.
    pub async fn subscribe(&self, filters: &[String]) -> Result<EventStream> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let ready = format!(
            "{READY_TOPIC_PREFIX}{}-{nanos}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let mut filters = filters.to_vec();
        if !filters.is_empty() {
            filters.push(format!("topic=={ready:?}"));
        }
        let mut call = Box::pin(async {
            EventsClient::new(self.channel.clone())
                .subscribe(self.request(SubscribeRequest { filters }))
                .await
        });
        let deadline = Instant::now() + SUBSCRIBE_TIMEOUT;
        let mut wait = Duration::from_millis(10);
        let reply = loop {
            match tokio::time::timeout(wait, &mut call).await {
                Ok(reply) => break reply.map_err(|s| self.status_error("events subscribe", s))?,
                Err(_) if Instant::now() > deadline => {
                    return Err(self.status_error(
                        "events subscribe",
                        tonic::Status::deadline_exceeded(format!(
                            "the subscription did not go live within {} s",
                            SUBSCRIBE_TIMEOUT.as_secs()
                        )),
                    ))
                }
                Err(_) => {
                    self.publish_marker(&ready).await?;
                    wait = (wait * 2).min(Duration::from_millis(500));
                }
            }
        };
        Ok(EventStream {
            inner: reply.into_inner(),
            client: self.clone(),
        })
    }

    async fn publish_marker(&self, topic: &str) -> Result<()> {
        EventsClient::new(self.channel.clone())
            .publish(self.request(PublishRequest {
                topic: topic.to_owned(),
                event: Some(Any {
                    type_url: "google.protobuf.Empty".into(),
                    value: Vec::new(),
                }),
            }))
            .await
            .map_err(|s| self.status_error("events publish", s))?;
        Ok(())
    }
}

/// `Any::to_msg` wants a type URL with a `/`; containerd sends the bare full name
/// (`containerd.events.TaskExit`).
fn normalized(any: Any) -> Any {
    if any.type_url.contains('/') {
        any
    } else {
        Any {
            type_url: format!("/{}", any.type_url),
            value: any.value,
        }
    }
}

fn event_from_proto(e: Envelope) -> Event {
    let payload = e
        .event
        .map(normalized)
        .and_then(|any| decode(&e.topic, &any))
        .unwrap_or(Payload::Other);
    Event {
        timestamp: time_from_proto(e.timestamp),
        namespace: e.namespace,
        topic: e.topic,
        payload,
    }
}

fn decode(topic: &str, any: &Any) -> Option<Payload> {
    Some(match topic {
        "/tasks/create" => {
            let m = any.to_msg::<TaskCreate>().ok()?;
            Payload::TaskCreate {
                container_id: m.container_id,
                pid: m.pid,
            }
        }
        "/tasks/start" => {
            let m = any.to_msg::<TaskStart>().ok()?;
            Payload::TaskStart {
                container_id: m.container_id,
                pid: m.pid,
            }
        }
        "/tasks/exit" => {
            let m = any.to_msg::<TaskExit>().ok()?;
            Payload::TaskExit {
                container_id: m.container_id,
                id: m.id,
                pid: m.pid,
                exit_status: m.exit_status,
                exited_at: time_from_proto(m.exited_at),
            }
        }
        "/tasks/delete" => {
            let m = any.to_msg::<TaskDelete>().ok()?;
            Payload::TaskDelete {
                container_id: m.container_id,
                id: m.id,
                pid: m.pid,
                exit_status: m.exit_status,
                exited_at: time_from_proto(m.exited_at),
            }
        }
        "/tasks/oom" => Payload::TaskOom {
            container_id: any.to_msg::<TaskOom>().ok()?.container_id,
        },
        "/tasks/paused" => Payload::TaskPaused {
            container_id: any.to_msg::<TaskPaused>().ok()?.container_id,
        },
        "/tasks/resumed" => Payload::TaskResumed {
            container_id: any.to_msg::<TaskResumed>().ok()?.container_id,
        },
        "/tasks/exec-added" => {
            let m = any.to_msg::<TaskExecAdded>().ok()?;
            Payload::TaskExecAdded {
                container_id: m.container_id,
                exec_id: m.exec_id,
            }
        }
        "/tasks/exec-started" => {
            let m = any.to_msg::<TaskExecStarted>().ok()?;
            Payload::TaskExecStarted {
                container_id: m.container_id,
                exec_id: m.exec_id,
                pid: m.pid,
            }
        }
        "/containers/create" => {
            let m = any.to_msg::<ContainerCreate>().ok()?;
            Payload::ContainerCreate {
                id: m.id,
                image: m.image,
                runtime: m.runtime.map(|r| r.name).unwrap_or_default(),
            }
        }
        "/containers/update" => {
            let m = any.to_msg::<ContainerUpdate>().ok()?;
            Payload::ContainerUpdate {
                id: m.id,
                image: m.image,
                labels: m.labels.into_iter().collect(),
            }
        }
        "/containers/delete" => Payload::ContainerDelete {
            id: any.to_msg::<ContainerDelete>().ok()?.id,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(topic: &str, type_url: &str, value: Vec<u8>) -> Envelope {
        Envelope {
            timestamp: Some(prost_types::Timestamp {
                seconds: 1,
                nanos: 0,
            }),
            namespace: "ns".into(),
            topic: topic.into(),
            event: Some(Any {
                type_url: type_url.into(),
                value,
            }),
        }
    }

    #[test]
    fn a_task_exit_with_containerds_bare_type_url_decodes() {
        let exit = TaskExit {
            container_id: "web-1".into(),
            id: "web-1".into(),
            pid: 7,
            exit_status: 3,
            exited_at: Some(prost_types::Timestamp {
                seconds: 2,
                nanos: 0,
            }),
        };
        let any = Any::from_msg(&exit).unwrap();
        let e = event_from_proto(envelope(
            "/tasks/exit",
            "containerd.events.TaskExit",
            any.value,
        ));
        assert_eq!(e.namespace, "ns");
        assert_eq!(
            e.payload,
            Payload::TaskExit {
                container_id: "web-1".into(),
                id: "web-1".into(),
                pid: 7,
                exit_status: 3,
                exited_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(2)),
            }
        );
        assert_eq!(e.payload.container_id(), Some("web-1"));
    }

    #[test]
    fn unknown_topics_and_garbage_are_other() {
        let e = event_from_proto(envelope(
            "/images/create",
            "containerd.events.ImageCreate",
            vec![],
        ));
        assert_eq!(e.topic, "/images/create");
        assert_eq!(e.payload, Payload::Other);
        // A TaskStart payload under the exit topic: the type URL does not match.
        let e = event_from_proto(envelope(
            "/tasks/exit",
            "containerd.events.TaskStart",
            vec![],
        ));
        assert_eq!(e.payload, Payload::Other);
        let e = event_from_proto(envelope(
            "/tasks/start",
            "containerd.events.TaskStart",
            vec![0xff, 0xff],
        ));
        assert_eq!(e.payload, Payload::Other);
    }

    #[test]
    fn a_container_create_carries_its_runtime() {
        let c = ContainerCreate {
            id: "db-1".into(),
            image: "docker.io/library/postgres:16".into(),
            runtime: Some(containerd_client::events::container_create::Runtime {
                name: "io.containerd.runc.v2".into(),
                options: None,
            }),
        };
        let any = Any::from_msg(&c).unwrap();
        let e = event_from_proto(envelope(
            "/containers/create",
            "containerd.events.ContainerCreate",
            any.value,
        ));
        assert_eq!(
            e.payload,
            Payload::ContainerCreate {
                id: "db-1".into(),
                image: "docker.io/library/postgres:16".into(),
                runtime: "io.containerd.runc.v2".into(),
            }
        );
    }
}
