//! Which nodes of a [`Plan`] may run now: the bookkeeping of a parallel executor, kept pure so
//! it is tested without containerd. A node is ready once every node it runs after has finished;
//! a failure either stops new work (`up`: [`Scheduler::failed`] with `keep_going` false) or is
//! treated as finished so teardown goes on (`down`).

use std::collections::BTreeSet;

use super::ops::Plan;

#[derive(Debug)]
pub struct Scheduler {
    waiting_on: Vec<usize>,
    next: Vec<Vec<usize>>,
    ready: BTreeSet<usize>,
    running: BTreeSet<usize>,
    finished: usize,
    stopped: bool,
    keep_going: bool,
}

impl Scheduler {
    /// `keep_going`: a failed node releases its dependents as a finished one does.
    pub fn new(plan: &Plan, keep_going: bool) -> Scheduler {
        let n = plan.nodes.len();
        let mut waiting_on = vec![0; n];
        let mut next = vec![Vec::new(); n];
        for (i, node) in plan.nodes.iter().enumerate() {
            for e in &node.after {
                waiting_on[i] += 1;
                next[e.node].push(i);
            }
        }
        let ready = (0..n).filter(|&i| waiting_on[i] == 0).collect();
        Scheduler {
            waiting_on,
            next,
            ready,
            running: BTreeSet::new(),
            finished: 0,
            stopped: false,
            keep_going,
        }
    }

    /// Takes up to `room` ready nodes, lowest index (the planner's order) first, and marks
    /// them running. Nothing once a failure stopped the plan.
    pub fn take(&mut self, room: usize) -> Vec<usize> {
        if self.stopped {
            return Vec::new();
        }
        let out: Vec<usize> = self.ready.iter().copied().take(room).collect();
        for i in &out {
            self.ready.remove(i);
            self.running.insert(*i);
        }
        out
    }

    pub fn succeeded(&mut self, i: usize) {
        self.finish(i);
    }

    /// A node failed: with `keep_going` its dependents still run, else nothing new starts.
    pub fn failed(&mut self, i: usize) {
        if self.keep_going {
            self.finish(i);
        } else {
            self.running.remove(&i);
            self.finished += 1;
            self.stopped = true;
        }
    }

    fn finish(&mut self, i: usize) {
        self.running.remove(&i);
        self.finished += 1;
        for &j in &self.next[i] {
            self.waiting_on[j] -= 1;
            if self.waiting_on[j] == 0 {
                self.ready.insert(j);
            }
        }
    }

    pub fn is_running(&self) -> bool {
        !self.running.is_empty()
    }

    /// Nothing runs and nothing more can start.
    pub fn is_over(&self) -> bool {
        self.running.is_empty() && (self.stopped || self.ready.is_empty())
    }

    /// The nodes that never ran (after a failure stopped the plan).
    pub fn not_run(&self) -> usize {
        self.waiting_on.len() - self.finished - self.running.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ops::{Edge, Op};

    fn plan(edges: &[&[usize]]) -> Plan {
        let mut p = Plan::default();
        for (i, after) in edges.iter().enumerate() {
            p.push(
                Op::CreateVolume {
                    name: format!("v{i}"),
                },
                "test",
                after.iter().map(|&n| Edge::done(n)).collect(),
            );
        }
        p
    }

    #[test]
    fn independent_nodes_run_together_and_dependents_wait() {
        // 0 and 1 are free; 2 needs both; 3 needs 2.
        let p = plan(&[&[], &[], &[0, 1], &[2]]);
        let mut s = Scheduler::new(&p, false);
        assert_eq!(s.take(8), [0, 1]);
        assert!(s.take(8).is_empty());
        s.succeeded(1);
        assert!(s.take(8).is_empty());
        s.succeeded(0);
        assert_eq!(s.take(8), [2]);
        s.succeeded(2);
        assert_eq!(s.take(8), [3]);
        s.succeeded(3);
        assert!(s.is_over());
        assert_eq!(s.not_run(), 0);
    }

    #[test]
    fn the_bound_is_respected() {
        let p = plan(&[&[], &[], &[], &[]]);
        let mut s = Scheduler::new(&p, false);
        assert_eq!(s.take(2), [0, 1]);
        s.succeeded(0);
        assert_eq!(s.take(1), [2]);
    }

    #[test]
    fn a_failure_stops_new_work_unless_keep_going() {
        let p = plan(&[&[], &[], &[0], &[1]]);
        let mut s = Scheduler::new(&p, false);
        assert_eq!(s.take(8), [0, 1]);
        s.failed(0);
        assert!(!s.is_over());
        assert!(s.take(8).is_empty());
        s.succeeded(1);
        assert!(s.take(8).is_empty());
        assert!(s.is_over());
        assert_eq!(s.not_run(), 2);

        let mut s = Scheduler::new(&p, true);
        assert_eq!(s.take(8), [0, 1]);
        s.failed(0);
        assert_eq!(s.take(8), [2]);
        s.succeeded(1);
        s.succeeded(2);
        assert_eq!(s.take(8), [3]);
    }
}
