//! `ls`: the compose projects in the namespace, found from the labels of their containers
//! (compose `ls.go`): each project's containers counted by state (`running(2), exited(1)`) and
//! the compose files it was made from. Without `-a`, only containers that run count.

use std::collections::BTreeMap;

use super::engine::EngineOptions;
use super::AppError;
use crate::containerd::TaskStatus;
use crate::plan::labels;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stack {
    pub name: String,
    pub status: String,
    pub config_files: String,
}

/// compose `combinedStatus`: `state(count)` per state, sorted by state, joined by `, `.
pub fn combined_status(states: &[&str]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in states {
        *counts.entry(s).or_default() += 1;
    }
    counts
        .iter()
        .map(|(s, n)| format!("{s}({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn run(engine: &EngineOptions, all: bool) -> Result<Vec<Stack>, AppError> {
    let client = engine.connect().await?;
    let containers = client
        .container_list(&[format!("labels.\"{}\"", labels::PROJECT)])
        .await?;
    let tasks: BTreeMap<String, TaskStatus> = client
        .task_list("")
        .await?
        .into_iter()
        .map(|t| (t.container_id, t.status))
        .collect();
    // project → (states, config files of its first container)
    let mut projects: BTreeMap<String, (Vec<&'static str>, String)> = BTreeMap::new();
    for c in &containers {
        let Some(project) = c.labels.get(labels::PROJECT) else {
            continue;
        };
        let state = match tasks.get(&c.id) {
            None | Some(TaskStatus::Created) => "created",
            Some(TaskStatus::Running) => "running",
            Some(TaskStatus::Paused | TaskStatus::Pausing) => "paused",
            Some(TaskStatus::Stopped) => "exited",
            Some(TaskStatus::Unknown) => "dead",
        };
        if !all && !matches!(state, "running" | "paused") {
            continue;
        }
        let entry = projects.entry(project.clone()).or_insert_with(|| {
            (
                Vec::new(),
                c.labels
                    .get(labels::CONFIG_FILES)
                    .cloned()
                    .unwrap_or_default(),
            )
        });
        entry.0.push(state);
    }
    Ok(projects
        .into_iter()
        .map(|(name, (states, config_files))| Stack {
            name,
            status: combined_status(&states),
            config_files,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_counted_and_sorted() {
        assert_eq!(
            combined_status(&["running", "exited", "running"]),
            "exited(1), running(2)"
        );
        assert_eq!(combined_status(&[]), "");
    }
}
