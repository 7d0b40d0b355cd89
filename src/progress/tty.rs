//! The tty view's state: events merged by id in the order first seen, their timers and
//! spinners, and the frame redrawn in place every tick. Pure: the caller passes the clock and
//! the terminal's size, and writes the returned bytes.
//!
//! Own ANSI redraw rather than indicatif's `MultiProgress`: compose's layout is one frame computed
//! from all events at once (the status column is padded from every line's width, a parent line
//! sums its children, the header counts every line, children are dropped when the screen is too
//! short), which does not map onto independent bars; drawing the frame ourselves also makes it
//! testable byte for byte.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::event::{Event, Status};
use super::format::{header, id_text_len, tty_line, Aggregate, LineLayout, Palette};

const HIDE_CURSOR: &str = "\x1b[?25l";
const SHOW_CURSOR: &str = "\x1b[?25h";
/// Compose's spinner moves on at each redraw once 100 ms have passed since the event began.
const SPINNER_DELAY: Duration = Duration::from_millis(100);

#[derive(Debug)]
struct Entry {
    event: Event,
    start: Instant,
    end: Option<Instant>,
    frame: usize,
}

/// Everything the tty view has been told, and what it drew last.
#[derive(Debug)]
pub struct TtyView {
    title: String,
    palette: Palette,
    /// Ids in the order first seen; every id here has an entry (indexing by them cannot fail).
    order: Vec<String>,
    entries: HashMap<String, Entry>,
    /// Lines drawn by the last frame, header excluded (compose also shows it as the header's total).
    lines: usize,
    drawn: bool,
    skip_children: bool,
    tail: Vec<String>,
}

impl TtyView {
    pub fn new(title: &str, palette: Palette) -> TtyView {
        TtyView {
            title: title.to_string(),
            palette,
            order: Vec::new(),
            entries: HashMap::new(),
            lines: 0,
            drawn: false,
            skip_children: false,
            tail: Vec::new(),
        }
    }

    /// Merges one event, with compose's rules: byte counts only grow, and a parent can be set or
    /// unset but not swapped.
    pub fn update(&mut self, mut event: Event, now: Instant) {
        let Some(last) = self.entries.get_mut(&event.id) else {
            let end = matches!(event.status, Status::Done | Status::Error).then_some(now);
            self.order.push(event.id.clone());
            self.entries.insert(
                event.id.clone(),
                Entry {
                    event,
                    start: now,
                    end,
                    frame: 0,
                },
            );
            return;
        };
        // A resource finishes when its status changes to a final one; a working update after
        // that (Extracting after Download complete) brings it back, its timer running on from
        // its start. This is compose 2.27's rule; 2.26 froze the line at the first final status.
        if event.status != Status::Working && event.status != last.event.status {
            last.end = Some(now);
        }
        let previous = &last.event;
        event.total = event.total.max(previous.total);
        event.current = event.current.max(previous.current);
        event.percent = event.percent.max(previous.percent);
        if previous.parent_id.is_some() && event.parent_id.is_some() {
            event.parent_id.clone_from(&previous.parent_id);
        }
        last.event = event;
    }

    /// Keeps a message to print under the final frame.
    pub fn tail(&mut self, message: String) {
        self.tail.push(message);
    }

    /// Redraws the frame: cursor back to the first line, header, lines, blank lines over the
    /// leftovers of a taller previous frame. Nothing before the first event.
    pub fn frame(&mut self, now: Instant, width: usize, height: usize) -> String {
        if self.order.is_empty() {
            return String::new();
        }
        let mut out = String::new();
        if self.drawn {
            out.push_str(&format!("\x1b[{}A", self.lines + 1));
        }
        self.drawn = true;
        out.push('\r');
        out.push_str(HIDE_CURSOR);

        let done = self
            .entries
            .values()
            .filter(|e| e.event.status != Status::Working)
            .count();
        out.push_str(&header(&self.title, done, self.lines, self.palette));

        // Compose's status column: the widest `<id> <text>`, minus two per child seen so far.
        let mut status_padding: isize = 0;
        for id in &self.order {
            let event = &self.entries[id].event;
            status_padding = status_padding.max(id_text_len(event) as isize);
            if event.parent_id.is_some() {
                status_padding -= 2;
            }
        }
        if self.order.len() + 2 > height {
            self.skip_children = true;
        }

        for entry in self.entries.values_mut() {
            if entry.event.status == Status::Working
                && now.duration_since(entry.start) > SPINNER_DELAY
            {
                entry.frame += 1;
            }
        }

        let mut lines = 0;
        for id in &self.order {
            let parent = &self.entries[id];
            if parent.event.parent_id.is_some() {
                continue;
            }
            let children: Vec<&Entry> = self
                .order
                .iter()
                .map(|id| &self.entries[id])
                .filter(|e| e.event.parent_id.as_deref() == Some(id.as_str()))
                .collect();
            let aggregate = if parent.event.status == Status::Working {
                Aggregate::of(children.iter().map(|e| &e.event))
            } else {
                None
            };
            out.push_str(&self.line(
                parent,
                false,
                aggregate.as_ref(),
                now,
                width,
                status_padding,
            ));
            lines += 1;
            if self.skip_children {
                continue;
            }
            for child in children {
                out.push_str(&self.line(child, true, None, now, width, status_padding));
                lines += 1;
            }
        }
        while lines < self.lines && lines + 2 < height {
            out.push_str(&" ".repeat(width));
            out.push('\n');
            lines += 1;
        }
        self.lines = lines;
        out.push_str(SHOW_CURSOR);
        out
    }

    fn line(
        &self,
        entry: &Entry,
        child: bool,
        aggregate: Option<&Aggregate>,
        now: Instant,
        width: usize,
        status_padding: isize,
    ) -> String {
        let end = match entry.event.status {
            Status::Working => now,
            _ => entry.end.unwrap_or(entry.start),
        };
        let layout = LineLayout {
            child,
            frame: entry.frame,
            elapsed: end.duration_since(entry.start).as_secs_f64(),
            aggregate,
            width,
            status_padding,
            palette: self.palette,
        };
        tty_line(&entry.event, &layout)
    }

    /// The last frame followed by the tail messages.
    pub fn finish(&mut self, now: Instant, width: usize, height: usize) -> String {
        let mut out = self.frame(now, width, height);
        for message in self.tail.drain(..) {
            out.push_str(&message);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MONO: Palette = Palette { color: false };

    fn strip_controls(frame: &str) -> String {
        frame
            .replace(HIDE_CURSOR, "")
            .replace(SHOW_CURSOR, "")
            .replace('\r', "")
    }

    #[test]
    fn nothing_before_the_first_event() {
        let mut view = TtyView::new("Pulling", MONO);
        assert_eq!(view.frame(Instant::now(), 80, 24), "");
    }

    #[test]
    fn pull_frames() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut view = TtyView::new("Pulling", MONO);
        view.update(Event::pulling("web"), at(0));
        view.update(Event::pulling_fs_layer("4abcf2066143", "web"), at(300));
        view.update(Event::already_exists("9d1a2b3c4d5e", "web"), at(300));
        let first = view.frame(at(1200), 60, 24);
        assert!(!first.contains("\x1b[1A") && !first.contains("\x1b[4A"));
        assert_eq!(
            strip_controls(&first),
            concat!(
                "[+] Pulling 1/0\n",
                " ⠙ web [⠀⣿] Pulling                                    1.2s \n",
                "   ⠙ 4abcf2066143 Pulling fs layer                     0.9s \n",
                "   ✔ 9d1a2b3c4d5e Already exists                       0.0s \n"
            )
        );
        view.update(
            Event::downloading("4abcf2066143", "web", 1_200_000, 3_400_000),
            at(1500),
        );
        view.update(Event::download_complete("4abcf2066143", "web"), at(1800));
        view.update(Event::extracting("4abcf2066143", "web", 10, 20), at(1900));
        let extracting = strip_controls(&view.frame(at(2000), 60, 24));
        assert!(
            extracting.contains("   ⠹ 4abcf2066143 Extracting   [="),
            "{extracting}"
        );
        view.update(Event::pull_complete("4abcf2066143", "web"), at(2500));
        view.update(Event::pulled("web"), at(3200));
        let last = view.finish(at(3300), 60, 24);
        assert!(last.starts_with("\x1b[4A\r"), "{last:?}");
        assert_eq!(
            strip_controls(&last["\x1b[4A".len()..]),
            concat!(
                "[+] Pulling 3/3\n",
                " ✔ web Pulled                                          3.2s \n",
                "   ✔ 4abcf2066143 Pull complete                        2.2s \n",
                "   ✔ 9d1a2b3c4d5e Already exists                       0.0s \n"
            )
        );
    }

    #[test]
    fn children_dropped_on_a_short_screen_and_leftovers_blanked() {
        let t0 = Instant::now();
        let mut view = TtyView::new("Pulling", MONO);
        view.update(Event::pulling("web"), t0);
        view.update(Event::layer_waiting("a", "web"), t0);
        view.frame(t0, 20, 24);
        view.update(Event::layer_waiting("b", "web"), t0);
        view.update(Event::layer_waiting("c", "web"), t0);
        let frame = strip_controls(&view.frame(t0, 30, 5));
        let lines: Vec<&str> = frame.lines().collect();
        // Header, the parent, then one blank line over the child drawn before.
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2], " ".repeat(30));
    }

    #[test]
    fn tail_messages_follow_the_last_frame() {
        let t0 = Instant::now();
        let mut view = TtyView::new("Pulling", MONO);
        view.update(Event::pull_warning("web", "not found"), t0);
        view.tail("WARNING: Some service image(s) must be built from source".into());
        let out = view.finish(t0, 60, 24);
        assert!(
            out.ends_with("\x1b[?25hWARNING: Some service image(s) must be built from source\n")
        );
        assert!(out.contains(" ! web Warning not found"));
    }
}
