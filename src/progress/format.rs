//! Pure formatting of progress output, string for string as Docker Compose prints it: human
//! sizes, docker's byte progress bar, the plain line, the json line, the tty header and tty lines.
//! No I/O, no clocks: callers pass widths and elapsed times in.

use serde::Serialize;

use super::event::{Event, Status};

const RESET: &str = "\x1b[0m";
const BLUE: &str = "\x1b[34m";
const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[32m";
const BOLD_YELLOW: &str = "\x1b[33m\x1b[1m";
const BOLD_RED: &str = "\x1b[31m\x1b[1m";

/// The spinner's frames while an event is working.
pub const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
/// One cell per layer on a pulling service's line, from 0 % to 100 %.
const PERCENT_CELLS: [char; 9] = ['⠀', '⡀', '⣀', '⣄', '⣤', '⣦', '⣶', '⣷', '⣿'];

/// Colours of the tty view. Compose turns them all off when `NO_COLOR` is set and non-empty,
/// but keeps redrawing in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Palette {
    pub color: bool,
}

impl Palette {
    fn paint(self, code: &str, s: &str) -> String {
        if self.color {
            format!("{code}{s}{RESET}")
        } else {
            s.to_string()
        }
    }
    fn done(self, s: &str) -> String {
        self.paint(BLUE, s)
    }
    fn timer(self, s: &str) -> String {
        self.paint(BLUE, s)
    }
    fn count(self, s: &str) -> String {
        self.paint(YELLOW, s)
    }
    fn success(self, s: &str) -> String {
        self.paint(GREEN, s)
    }
    fn status(self, status: Status, s: &str) -> String {
        match status {
            Status::Working => s.to_string(),
            Status::Done => self.paint(GREEN, s),
            Status::Warning => self.paint(BOLD_YELLOW, s),
            Status::Error => self.paint(BOLD_RED, s),
        }
    }
}

/// Bytes as docker's `units.HumanSize`: decimal units, four significant digits, zeros trimmed
/// (`0B`, `999B`, `1.2kB`, `12.35MB`, `1000kB` for 999 999 bytes, as Go rounds it).
pub fn human_size(bytes: u64) -> String {
    human_size_precision(bytes, 4)
}

/// Bytes as docker's `units.HumanSizeWithPrecision`: decimal units, `%.<precision>g`.
pub fn human_size_precision(bytes: u64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", format_g(size, precision), UNITS[unit])
}

/// Go's `%.<precision>g` for a non-negative number.
fn format_g(x: f64, precision: usize) -> String {
    if x == 0.0 {
        return "0".to_string();
    }
    let precision = precision.max(1);
    // Rounded to `precision` significant digits by the standard formatter: "d.ddde<exp>".
    let sci = format!("{x:.*e}", precision - 1);
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if exp < -4 || exp >= i32::try_from(precision).unwrap_or(i32::MAX) {
        let frac = digits[1..].trim_end_matches('0');
        let sign = if exp < 0 { '-' } else { '+' };
        let dot = if frac.is_empty() { "" } else { "." };
        return format!("{}{dot}{frac}e{sign}{:02}", &digits[..1], exp.abs());
    }
    if exp >= 0 {
        let split = usize::try_from(exp).unwrap_or(0) + 1;
        let (int, frac) = digits.split_at(split.min(digits.len()));
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            int.to_string()
        } else {
            format!("{int}.{frac}")
        }
    } else {
        let zeros = "0".repeat(usize::try_from(-exp - 1).unwrap_or(0));
        format!("0.{zeros}{}", digits.trim_end_matches('0'))
    }
}

/// Docker's progress string for a byte count (`JSONProgress.String()` with its default width of
/// 200 columns): `[=========>      ]  1.2MB/3.4MB`, the bar 50 cells wide, the count right-aligned
/// in 8 columns. Empty when nothing is known; only the count when the total is not.
pub fn docker_progress(current: u64, total: u64) -> String {
    if current == 0 && total == 0 {
        return String::new();
    }
    if total == 0 {
        return format!("{:>8}", human_size(current));
    }
    let percentage = (((current as f64 / total as f64) * 100.0) as i64 / 2).clamp(0, 50) as usize;
    let bar = format!(
        "[{}>{}] ",
        "=".repeat(percentage),
        " ".repeat(50 - percentage)
    );
    let numbers = if current > total {
        format!("{:>8}", human_size(current))
    } else {
        format!("{:>8}/{}", human_size(current), human_size(total))
    };
    bar + &numbers
}

/// A line of the plain view, without its newline. Compose prints the fields with Go's
/// `Println`, which puts a space before each: ` web Pulling `, ` Container p-web-1  Started`.
pub fn plain_line(event: &Event) -> String {
    format!(" {} {} {}", event.id, event.text, event.status_text)
}

/// A plain tail message (a warning printed after the events).
pub fn plain_tail(message: &str) -> String {
    message.to_string()
}

#[derive(Serialize)]
struct JsonMessage<'a> {
    #[serde(rename = "dry-run", skip_serializing_if = "is_false")]
    dry_run: bool,
    #[serde(skip_serializing_if = "is_false")]
    tail: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    parent_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    status: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    text: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    details: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    current: u64,
    #[serde(skip_serializing_if = "is_zero")]
    total: u64,
    #[serde(skip_serializing_if = "is_zero_u8")]
    percent: u8,
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(n: &u64) -> bool {
    *n == 0
}
fn is_zero_u8(n: &u8) -> bool {
    *n == 0
}

/// A line of the json view, without its newline, in the format of compose's later `--progress
/// json`: `status` is the state word, `text` the operation word, `details` the rest. Events
/// whose word is in `status_text` (lifecycle events) put it in `text`, as later compose does.
pub fn json_line(event: &Event) -> String {
    let (text, details) = if event.text.is_empty() {
        (event.status_text.as_str(), "")
    } else {
        (event.text.as_str(), event.status_text.as_str())
    };
    go_json(&JsonMessage {
        dry_run: false,
        tail: false,
        id: &event.id,
        parent_id: event.parent_id.as_deref().unwrap_or(""),
        status: event.status.as_str(),
        text,
        details,
        current: event.current,
        total: event.total,
        percent: event.percent,
    })
}

/// A json tail message: `{"tail":true,"text":"..."}`.
pub fn json_tail(message: &str) -> String {
    go_json(&JsonMessage {
        dry_run: false,
        tail: true,
        id: "",
        parent_id: "",
        status: "",
        text: message,
        details: "",
        current: 0,
        total: 0,
        percent: 0,
    })
}

/// serde_json's output with the escapes Go's `json.Marshal` adds (`<`, `>`, `&`, U+2028,
/// U+2029), so lines match compose's byte for byte. These characters can only occur inside
/// strings, so replacing them everywhere is safe.
fn go_json(message: &JsonMessage<'_>) -> String {
    // Serializing a struct of strings and integers cannot fail.
    let raw = serde_json::to_string(message).unwrap_or_default();
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The tty view's first line, with its newline: `[+] Pulling 2/3`, blue once all are done.
pub fn header(title: &str, done: usize, total: usize, palette: Palette) -> String {
    let line = format!("[+] {title} {done}/{total}");
    if total != 0 && done == total {
        format!("{}\n", palette.done(&line))
    } else {
        format!("{line}\n")
    }
}

/// What a working parent shows of its children: a braille cell per child, and the summed bytes
/// once every working child knows its total.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aggregate {
    pub cells: String,
    pub bytes: Option<(u64, u64)>,
}

impl Aggregate {
    /// Sums the children of a working parent, as compose's tty writer does.
    pub fn of<'a>(children: impl IntoIterator<Item = &'a Event>) -> Option<Aggregate> {
        let mut cells = String::new();
        let (mut current, mut total, mut unknown) = (0u64, 0u64, false);
        for child in children {
            if child.status == Status::Working && child.total == 0 {
                unknown = true;
            }
            total += child.total;
            current += child.current;
            let index = (PERCENT_CELLS.len() - 1) * usize::from(child.percent.min(100)) / 100;
            cells.push(PERCENT_CELLS[index]);
        }
        if cells.is_empty() {
            return None;
        }
        let bytes = (!unknown && total > 0).then_some((current, total));
        Some(Aggregate { cells, bytes })
    }
}

/// The text compose measures to align status words: `<id> <text>` (its byte length).
pub fn id_text_len(event: &Event) -> usize {
    event.id.len() + 1 + event.text.len()
}

/// Inputs of one tty line besides the event.
#[derive(Clone, Copy, Debug)]
pub struct LineLayout<'a> {
    /// Drawn under a parent: indented by two spaces.
    pub child: bool,
    /// Which spinner frame to draw while working.
    pub frame: usize,
    /// Seconds since the event was first seen (until it finished).
    pub elapsed: f64,
    /// The children's summary, for a working parent.
    pub aggregate: Option<&'a Aggregate>,
    /// Terminal columns; 0 when unknown (then nothing is padded or cut).
    pub width: usize,
    /// The column compose pads status words to (it can be negative, as compose computes it).
    pub status_padding: isize,
    pub palette: Palette,
}

/// One line of the tty view, with its newline:
/// ` ✔ web Pulled                    3.2s `, the timer right-aligned to the terminal's width.
///
/// Like compose, the status text is cut with `...` when it would crowd the line. Unlike
/// compose, a line still wider than the terminal is cut (keeping the timer), so that it never
/// wraps and the redraw never loses count of lines.
pub fn tty_line(event: &Event, layout: &LineLayout<'_>) -> String {
    let palette = layout.palette;
    let glyph = match event.status {
        Status::Working => palette.count(SPINNER[layout.frame % SPINNER.len()]),
        Status::Done => palette.success("✔"),
        Status::Warning => palette.status(Status::Warning, "!"),
        Status::Error => palette.status(Status::Error, "✘"),
    };
    let txt = match layout.aggregate {
        Some(aggregate) => {
            let details = match aggregate.bytes {
                Some((current, total)) => {
                    format!(" {:>7} / {:<7}", human_size(current), human_size(total))
                }
                None => String::new(),
            };
            format!(
                "{} [{}]{} {}",
                event.id,
                palette.success(&aggregate.cells),
                details,
                event.text
            )
        }
        None => format!("{} {}", event.id, event.text),
    };
    // Compose measures bytes here, colour codes and multi-byte braille included.
    let text_len = txt.len() as isize;
    let padding = (layout.status_padding - text_len).max(0) as usize;
    let max_status = layout.width as isize - text_len - layout.status_padding - 15;
    let mut status = event.status_text.clone();
    if max_status > 0 && status.len() as isize > max_status {
        let mut cut = max_status as usize;
        while !status.is_char_boundary(cut) {
            cut -= 1;
        }
        status.truncate(cut);
        status.push_str("...");
    }
    let pad = if layout.child { "  " } else { "" };
    let left = format!(
        "{pad} {glyph} {txt}{} {}",
        " ".repeat(padding),
        palette.status(event.status, &status)
    );
    let timer = palette.timer(&format!("{:.1}s ", layout.elapsed));
    align(&left, &timer, layout.width, palette)
}

/// `left`, spaces, `right` and a newline, filling `width` columns.
fn align(left: &str, right: &str, width: usize, palette: Palette) -> String {
    let (ll, lr) = (len_ansi(left), len_ansi(right));
    if width > 0 && ll + lr > width {
        let mut cut = truncate_ansi(left, width.saturating_sub(lr));
        if palette.color {
            cut.push_str(RESET);
        }
        return format!("{cut}{right}\n");
    }
    let pad = if width > ll + lr { width - ll - lr } else { 0 };
    format!("{left}{}{right}\n", " ".repeat(pad))
}

/// Characters a person sees in `s`: colour sequences (`ESC ... m`) do not count.
pub fn len_ansi(s: &str) -> usize {
    let mut n = 0;
    let mut in_code = false;
    for c in s.chars() {
        if c == '\x1b' {
            in_code = true;
        } else if in_code {
            in_code = c != 'm';
        } else {
            n += 1;
        }
    }
    n
}

/// The first `max` visible characters of `s`, colour sequences kept.
fn truncate_ansi(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len());
    let mut n = 0;
    let mut in_code = false;
    for c in s.chars() {
        if c == '\x1b' {
            in_code = true;
            out.push(c);
        } else if in_code {
            in_code = c != 'm';
            out.push(c);
        } else if n < max {
            n += 1;
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLOR: Palette = Palette { color: true };
    const MONO: Palette = Palette { color: false };

    #[test]
    fn human_sizes_as_go_units() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(3_400), "3.4kB");
        assert_eq!(human_size(1_200_000), "1.2MB");
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size(12_345_678), "12.35MB");
        assert_eq!(human_size(123_456_789), "123.5MB");
        assert_eq!(human_size(999_999), "1000kB");
        assert_eq!(human_size(29_150_000), "29.15MB");
        assert_eq!(human_size(5_000_000_000), "5GB");
    }

    #[test]
    fn docker_progress_bar() {
        assert_eq!(docker_progress(0, 0), "");
        assert_eq!(docker_progress(1_500, 0), "   1.5kB");
        assert_eq!(
            docker_progress(1_200_000, 3_400_000),
            format!("[{}>{}]    1.2MB/3.4MB", "=".repeat(17), " ".repeat(33))
        );
        assert_eq!(
            docker_progress(3_400_000, 3_400_000),
            format!("[{}>]    3.4MB/3.4MB", "=".repeat(50))
        );
        // A count past the total drops the total, as docker does.
        assert_eq!(
            docker_progress(4_000_000, 3_400_000),
            format!("[{}>]      4MB", "=".repeat(50))
        );
    }

    #[test]
    fn plain_lines_as_go_println() {
        assert_eq!(plain_line(&Event::pulling("web")), " web Pulling ");
        assert_eq!(
            plain_line(&Event::pulling_fs_layer("4abcf2066143", "web")),
            " 4abcf2066143 Pulling fs layer "
        );
        assert_eq!(
            plain_line(&Event::downloading(
                "4abcf2066143",
                "web",
                1_200_000,
                3_400_000
            )),
            format!(
                " 4abcf2066143 Downloading [{}>{}]    1.2MB/3.4MB",
                "=".repeat(17),
                " ".repeat(33)
            )
        );
        assert_eq!(
            plain_line(&Event::started("Container p-web-1")),
            " Container p-web-1  Started"
        );
        assert_eq!(
            plain_line(&Event::pull_error("web", "pull access denied")),
            " web Error pull access denied"
        );
    }

    #[test]
    fn json_lines_as_later_compose() {
        assert_eq!(
            json_line(&Event::pulling("web")),
            r#"{"id":"web","status":"Working","text":"Pulling"}"#
        );
        assert_eq!(
            json_line(&Event::downloading(
                "4abcf2066143",
                "web",
                1_200_000,
                3_400_000
            )),
            format!(
                r#"{{"id":"4abcf2066143","parent_id":"web","status":"Working","text":"Downloading","details":"[{}\u003e{}]    1.2MB/3.4MB","current":1200000,"total":3400000,"percent":35}}"#,
                "=".repeat(17),
                " ".repeat(33)
            )
        );
        assert_eq!(
            json_line(&Event::pull_complete("4abcf2066143", "web")),
            r#"{"id":"4abcf2066143","parent_id":"web","status":"Done","text":"Pull complete","percent":100}"#
        );
        assert_eq!(
            json_line(&Event::created("Container p-web-1")),
            r#"{"id":"Container p-web-1","status":"Done","text":"Created"}"#
        );
        assert_eq!(
            json_tail("a <b> & c"),
            r#"{"tail":true,"text":"a \u003cb\u003e \u0026 c"}"#
        );
    }

    #[test]
    fn header_turns_blue_when_all_done() {
        assert_eq!(header("Pulling", 2, 3, COLOR), "[+] Pulling 2/3\n");
        assert_eq!(header("Running", 0, 0, COLOR), "[+] Running 0/0\n");
        assert_eq!(
            header("Pulling", 3, 3, COLOR),
            "\x1b[34m[+] Pulling 3/3\x1b[0m\n"
        );
        assert_eq!(header("Pulling", 3, 3, MONO), "[+] Pulling 3/3\n");
    }

    fn layout(width: usize, status_padding: isize) -> LineLayout<'static> {
        LineLayout {
            child: false,
            frame: 0,
            elapsed: 0.0,
            aggregate: None,
            width,
            status_padding,
            palette: COLOR,
        }
    }

    fn id_text(status: Status) -> Event {
        Event {
            text: "Text".into(),
            ..Event::new("id", status, "Status")
        }
    }

    // The expected strings are those of compose's own tty_test.go (TestLineText), whose
    // spinner is a single "." (ours is the first braille frame).
    #[test]
    fn tty_lines_as_compose_test() {
        let l = layout(50, 7);
        assert_eq!(
            tty_line(&id_text(Status::Working), &l),
            " \x1b[33m⠋\x1b[0m id Text Status                            \x1b[34m0.0s \x1b[0m\n"
        );
        assert_eq!(
            tty_line(&id_text(Status::Done), &l),
            " \x1b[32m✔\x1b[0m id Text \x1b[32mStatus\x1b[0m                            \x1b[34m0.0s \x1b[0m\n"
        );
        assert_eq!(
            tty_line(&id_text(Status::Error), &l),
            " \x1b[31m\x1b[1m✘\x1b[0m id Text \x1b[31m\x1b[1mStatus\x1b[0m                            \x1b[34m0.0s \x1b[0m\n"
        );
        assert_eq!(
            tty_line(&id_text(Status::Warning), &l),
            " \x1b[33m\x1b[1m!\x1b[0m id Text \x1b[33m\x1b[1mStatus\x1b[0m                            \x1b[34m0.0s \x1b[0m\n"
        );
    }

    #[test]
    fn tty_lifecycle_line_has_two_spaces() {
        let e = Event::started("Container p-web-1");
        let l = LineLayout {
            elapsed: 0.31,
            status_padding: id_text_len(&e) as isize,
            palette: MONO,
            ..layout(40, 0)
        };
        assert_eq!(
            tty_line(&e, &l),
            " ✔ Container p-web-1  Started      0.3s \n"
        );
    }

    #[test]
    fn tty_child_line_is_indented() {
        let e = Event::pull_complete("4abcf2066143", "web");
        let l = LineLayout {
            child: true,
            elapsed: 1.04,
            palette: MONO,
            ..layout(48, 0)
        };
        assert_eq!(
            tty_line(&e, &l),
            "   ✔ 4abcf2066143 Pull complete            1.0s \n"
        );
    }

    #[test]
    fn tty_parent_shows_children_summary() {
        let children = [
            Event::downloading("a", "web", 1_200_000, 3_400_000),
            Event::pull_complete("b", "web"),
            Event::layer_waiting("c", "web"),
        ];
        let aggregate = Aggregate::of(&children).unwrap();
        assert_eq!(aggregate.cells, "⣀⣿⠀");
        // A working child without a total hides the byte counts.
        assert_eq!(aggregate.bytes, None);
        let children = [
            Event::downloading("a", "web", 1_200_000, 3_400_000),
            Event::pull_complete("b", "web"),
        ];
        let aggregate = Aggregate::of(&children).unwrap();
        assert_eq!(aggregate.bytes, Some((1_200_000, 3_400_000)));
        let l = LineLayout {
            aggregate: Some(&aggregate),
            elapsed: 2.0,
            frame: 3,
            palette: MONO,
            ..layout(60, 0)
        };
        assert_eq!(
            tty_line(&Event::pulling("web"), &l),
            " ⠸ web [⣀⣿]   1.2MB / 3.4MB   Pulling                  2.0s \n"
        );
    }

    #[test]
    fn tty_long_status_is_cut() {
        let e = Event::pull_error(
            "web",
            "Error response from daemon: pull access denied for nosuchimage, repository does not exist",
        );
        let l = LineLayout {
            elapsed: 1.2,
            palette: MONO,
            status_padding: id_text_len(&e) as isize,
            ..layout(60, 0)
        };
        // 60 - 9 - 9 - 15 = 27 bytes of status, then "..." (compose's cut).
        assert_eq!(
            tty_line(&e, &l),
            " ✘ web Error Error response from daemon:...            1.2s \n"
        );
    }

    #[test]
    fn tty_line_never_wider_than_terminal() {
        let e = Event::pulling("a-service-with-a-rather-long-name-indeed");
        let l = LineLayout {
            elapsed: 0.5,
            palette: COLOR,
            ..layout(30, 0)
        };
        let line = tty_line(&e, &l);
        assert_eq!(len_ansi(line.trim_end_matches('\n')), 30);
        assert!(line.ends_with("\x1b[0m\x1b[34m0.5s \x1b[0m\n"));
    }
}
