//! The Content service: blobs addressed by digest, written through resumable ingests that
//! containerd verifies (size and digest) on commit, read back in ranges, labelled for garbage
//! collection.

use std::collections::BTreeMap;

use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::{
    AbortRequest, DeleteContentRequest, Info, InfoRequest, ReadContentRequest, UpdateRequest,
    WriteAction, WriteContentRequest, WriteContentResponse,
};
use containerd_client::tonic::Streaming;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{Client, Code, Error, Result};
use containerd_client::tonic;

/// What containerd knows of a stored blob.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContentInfo {
    pub digest: String,
    pub size: i64,
    pub labels: BTreeMap<String, String>,
}

/// An open ingest: bytes written in order from `offset()`, then committed under the expected
/// digest. Dropping it without `commit` leaves the partial ingest for a later writer with the
/// same reference to resume.
pub struct ContentWriter {
    client: Client,
    reference: String,
    tx: mpsc::Sender<WriteContentRequest>,
    replies: Streaming<WriteContentResponse>,
    offset: i64,
    total: i64,
    expected: String,
}

/// What opening an ingest found.
pub enum Ingest {
    /// The blob is already stored: nothing to write.
    Present,
    /// A writer, positioned where an earlier interrupted write stopped (0 for a new one).
    Open(Box<ContentWriter>),
}

impl Client {
    /// The stored blob `digest`, or `None` when containerd does not have it.
    pub async fn content_info(&self, digest: &str) -> Result<Option<ContentInfo>> {
        let reply = ContentClient::new(self.channel.clone())
            .info(self.request(InfoRequest {
                digest: digest.to_owned(),
            }))
            .await;
        match reply {
            Ok(r) => Ok(r.into_inner().info.map(info_from_proto)),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(self.status_error("content info", s)),
        }
    }

    /// Sets (or, with an empty value, removes) the given labels of blob `digest`, leaving its
    /// other labels alone.
    pub async fn content_set_labels(
        &self,
        digest: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<()> {
        if labels.is_empty() {
            return Ok(());
        }
        let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
        ContentClient::new(self.channel.clone())
            .update(
                self.request(UpdateRequest {
                    info: Some(Info {
                        digest: digest.to_owned(),
                        labels: labels
                            .iter()
                            .filter(|(_, v)| !v.is_empty())
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask { paths }),
                }),
            )
            .await
            .map_err(|s| self.status_error("content update", s))?;
        Ok(())
    }

    /// Reads the whole of a small blob (a manifest, an index, a config). Refuses blobs larger
    /// than `limit` bytes, so a wrong digest cannot make berth read a layer into memory.
    pub async fn content_read_all(&self, digest: &str, limit: i64) -> Result<Vec<u8>> {
        // One round trip, no Info call first: containerd sends at most `limit + 1` bytes (a
        // read may ask past the end), and one byte too many says the blob is too large.
        let mut stream = ContentClient::new(self.channel.clone())
            .read(self.request(ReadContentRequest {
                digest: digest.to_owned(),
                offset: 0,
                size: limit.saturating_add(1),
            }))
            .await
            .map_err(|s| self.status_error("content read", s))?
            .into_inner();
        let mut out = Vec::new();
        while let Some(part) = stream.next().await {
            let part = part.map_err(|s| self.status_error("content read", s))?;
            out.extend_from_slice(&part.data);
        }
        if i64::try_from(out.len()).unwrap_or(i64::MAX) > limit {
            return Err(Error::Call {
                address: self.address.clone(),
                call: "content read",
                code: Code::InvalidArgument,
                message: format!("{digest} is more than the {limit} bytes expected"),
            });
        }
        Ok(out)
    }

    /// Deletes blob `digest`; one that is already gone is not an error.
    pub async fn content_delete(&self, digest: &str) -> Result<()> {
        match ContentClient::new(self.channel.clone())
            .delete(self.request(DeleteContentRequest {
                digest: digest.to_owned(),
            }))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(self.status_error("content delete", s)),
        }
    }

    /// Drops the unfinished ingest `reference` and its bytes; one already gone is not an error.
    pub async fn content_abort(&self, reference: &str) -> Result<()> {
        match ContentClient::new(self.channel.clone())
            .abort(self.request(AbortRequest {
                r#ref: reference.to_owned(),
            }))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(self.status_error("content abort", s)),
        }
    }

    /// Opens the ingest `reference` for a blob of `total` bytes and digest `expected`. The same
    /// reference resumes an interrupted write; containerd holds it locked while a writer is open.
    pub async fn content_writer(
        &self,
        reference: &str,
        total: i64,
        expected: &str,
    ) -> Result<Ingest> {
        // Enough room that a writer never waits on the channel: each message is answered
        // before the next is sent.
        let (tx, rx) = mpsc::channel::<WriteContentRequest>(4);
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|m| (m, rx)) },
            );
        tx.send(WriteContentRequest {
            action: WriteAction::Stat as i32,
            r#ref: reference.to_owned(),
            total,
            expected: expected.to_owned(),
            ..Default::default()
        })
        .await
        .map_err(|_| self.closed("content write"))?;
        let replies = ContentClient::new(self.channel.clone())
            .write(self.request(stream))
            .await;
        let mut replies = match replies {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == tonic::Code::AlreadyExists => return Ok(Ingest::Present),
            Err(s) => return Err(self.status_error("content write", s)),
        };
        let status = match replies.next().await {
            Some(Ok(r)) => r,
            Some(Err(s)) if s.code() == tonic::Code::AlreadyExists => return Ok(Ingest::Present),
            Some(Err(s)) => return Err(self.status_error("content write", s)),
            None => return Err(self.closed("content write")),
        };
        Ok(Ingest::Open(Box::new(ContentWriter {
            client: self.clone(),
            reference: reference.to_owned(),
            tx,
            replies,
            offset: status.offset,
            total,
            expected: expected.to_owned(),
        })))
    }

    fn closed(&self, call: &'static str) -> Error {
        Error::NotAnswering {
            address: self.address.clone(),
            reason: format!("{call}: the stream closed early"),
        }
    }
}

impl ContentWriter {
    /// How many bytes the ingest holds: where the next write goes unless told otherwise.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Writes `data` at `offset`, which must be the current offset or 0 (0 starts over:
    /// containerd truncates the ingest).
    pub async fn write_at(&mut self, offset: i64, data: Vec<u8>) -> Result<()> {
        let len = i64::try_from(data.len()).unwrap_or(i64::MAX);
        let reply = self
            .exchange(WriteContentRequest {
                action: WriteAction::Write as i32,
                r#ref: self.reference.clone(),
                offset,
                data,
                ..Default::default()
            })
            .await?;
        self.offset = reply.offset;
        if reply.offset != offset + len {
            return Err(Error::Call {
                address: self.client.address.clone(),
                call: "content write",
                code: Code::Other,
                message: format!(
                    "ingest {} is at offset {} after writing {len} bytes at {offset}",
                    self.reference, reply.offset
                ),
            });
        }
        Ok(())
    }

    /// Writes `data` after what the ingest holds.
    pub async fn write(&mut self, data: Vec<u8>) -> Result<()> {
        self.write_at(self.offset, data).await
    }

    /// Commits the ingest: containerd checks size and digest and stores the blob with `labels`.
    /// A blob that another writer stored meanwhile counts as committed.
    pub async fn commit(mut self, labels: BTreeMap<String, String>) -> Result<()> {
        let reply = self
            .exchange(WriteContentRequest {
                action: WriteAction::Commit as i32,
                r#ref: self.reference.clone(),
                offset: self.offset,
                total: self.total,
                expected: self.expected.clone(),
                labels: labels.into_iter().collect(),
                ..Default::default()
            })
            .await;
        match reply {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(Code::AlreadyExists) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn exchange(&mut self, message: WriteContentRequest) -> Result<WriteContentResponse> {
        self.tx
            .send(message)
            .await
            .map_err(|_| self.client.closed("content write"))?;
        match self.replies.next().await {
            Some(Ok(r)) => Ok(r),
            Some(Err(s)) => Err(self.client.status_error("content write", s)),
            None => Err(self.client.closed("content write")),
        }
    }
}

fn info_from_proto(i: Info) -> ContentInfo {
    ContentInfo {
        digest: i.digest,
        size: i.size,
        labels: i.labels.into_iter().collect(),
    }
}
