//! How `logs` and attached `up` show lines from several containers, as Docker Compose's log
//! consumer does: each line behind `name  | ` (names padded to the longest one registered so
//! far, plus one space), coloured per container in compose's rainbow order when colour is on;
//! `name exited with code N` style status lines in the container's colour, without the `|`.
//! Pure: builds strings, prints nothing.

/// Compose's rainbow: cyan, yellow, green, magenta, blue, then the same five bright (`;1`).
const RAINBOW: [&str; 10] = [
    "36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1",
];

/// One registered container: its name and its colour (an index into [`RAINBOW`]).
#[derive(Debug, Clone)]
struct Presenter {
    name: String,
    color: Option<usize>,
}

/// The prefixes and colours of the containers shown so far.
#[derive(Debug, Clone)]
pub struct LogFormatter {
    color: bool,
    prefix: bool,
    presenters: Vec<Presenter>,
    /// The next colour to hand out (compose's colour counter).
    next_color: usize,
    width: usize,
}

impl LogFormatter {
    /// `color`: ANSI colours (off for `--no-color`, `--ansi never`, NO_COLOR, or stdout not a
    /// terminal); `prefix`: the `name | ` prefix (off for `--no-log-prefix`).
    pub fn new(color: bool, prefix: bool) -> LogFormatter {
        LogFormatter {
            color,
            prefix,
            presenters: Vec::new(),
            next_color: 0,
            width: 0,
        }
    }

    /// Registers `name` (a no-op when known): it takes the next colour, and every prefix widens
    /// to the longest name. Compose registers containers in name order, so colours are stable.
    pub fn register(&mut self, name: &str) {
        if self.presenters.iter().any(|p| p.name == name) {
            return;
        }
        let color = self.color.then(|| {
            let c = self.next_color;
            self.next_color = (self.next_color + 1) % RAINBOW.len();
            c
        });
        self.presenters.push(Presenter {
            name: name.to_owned(),
            color,
        });
        self.width = self
            .presenters
            .iter()
            .map(|p| p.name.chars().count())
            .max()
            .unwrap_or(0)
            + 1;
    }

    fn presenter(&mut self, name: &str) -> &Presenter {
        self.register(name);
        // register just made sure it is there
        let i = self
            .presenters
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_default();
        &self.presenters[i]
    }

    fn paint(color: Option<usize>, s: &str) -> String {
        match color {
            Some(c) => format!("\x1b[{}m{s}\x1b[0m", RAINBOW[c]),
            None => s.to_owned(),
        }
    }

    /// The prefix of `name`'s lines: empty without prefixes.
    pub fn prefix(&mut self, name: &str) -> String {
        if !self.prefix {
            return String::new();
        }
        self.register(name);
        let width = self.width;
        let p = self.presenter(name);
        let padded = format!("{:<width$} | ", p.name);
        Self::paint(p.color, &padded)
    }

    /// One output line of `name` (`text` without its `\n`), with its `\n`.
    pub fn line(&mut self, name: &str, text: &str) -> String {
        format!("{}{text}\n", self.prefix(name))
    }

    /// A status line about `name` (`a-1 exited with code 0`), in its colour, with its `\n`.
    pub fn status(&mut self, name: &str, message: &str) -> String {
        let color = self.presenter(name).color;
        Self::paint(color, &format!("{name} {message}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_pad_to_the_longest_name_plus_one() {
        let mut f = LogFormatter::new(false, true);
        f.register("a-1");
        f.register("web-1");
        assert_eq!(f.line("a-1", "hi"), "a-1    | hi\n");
        assert_eq!(f.line("web-1", "there"), "web-1  | there\n");
        // a longer name widens every prefix from then on
        f.register("database-1");
        assert_eq!(f.line("a-1", "x"), "a-1         | x\n");
        assert_eq!(
            f.status("a-1", "exited with code 3"),
            "a-1 exited with code 3\n"
        );
    }

    #[test]
    fn no_prefix_leaves_the_text_alone() {
        let mut f = LogFormatter::new(true, false);
        assert_eq!(f.line("a-1", "plain"), "plain\n");
    }

    #[test]
    fn colours_follow_compose_rainbow_and_wrap() {
        let mut f = LogFormatter::new(true, true);
        for i in 0..11 {
            f.register(&format!("s{i}"));
        }
        assert_eq!(f.line("s0", "x"), "\x1b[36ms0   | \x1b[0mx\n");
        assert_eq!(f.line("s1", "x"), "\x1b[33ms1   | \x1b[0mx\n");
        assert_eq!(f.line("s4", "x"), "\x1b[34ms4   | \x1b[0mx\n");
        assert_eq!(f.line("s5", "x"), "\x1b[36;1ms5   | \x1b[0mx\n");
        assert_eq!(f.line("s10", "x"), "\x1b[36ms10  | \x1b[0mx\n");
        assert_eq!(
            f.status("s1", "exited with code 0"),
            "\x1b[33ms1 exited with code 0\n\x1b[0m"
        );
    }

    #[test]
    fn an_unregistered_name_registers_itself() {
        let mut f = LogFormatter::new(false, true);
        assert_eq!(f.line("late-1", "x"), "late-1  | x\n");
    }
}
