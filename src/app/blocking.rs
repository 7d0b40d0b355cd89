//! Blocking filesystem work (writes that fsync, copying image content into a volume) done from
//! the executor. The executor runs every operation of a plan as a future of one task, so a
//! blocking call there stalls all of them: creates that each write and sync a few files ran one
//! after the other. Such work goes to tokio's blocking pool instead, where it runs side by side.

use super::AppError;

/// Runs `f` on the blocking pool and waits for it; a panic in `f` goes on in the caller.
pub async fn run<T, F>(f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => Ok(v),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // only when the runtime shuts down under it
        Err(e) => Err(AppError::Other(format!("blocking task: {e}"))),
    }
}
