//! Tables as Docker's CLI prints them: Go's text/tabwriter with minimum width 20, padding 3 and
//! spaces (`formatter.PrintPrettySection`). The last cell of a line is not padded.

/// Renders `rows` (the header first) as aligned columns.
pub fn render(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    // tabwriter aligns only cells followed by a tab: every cell but the last of its line
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count() + 3).max(20);
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn columns_are_at_least_twenty_wide_with_three_spaces_of_padding() {
        let t = render(&[
            row(&["CONTAINER", "REPOSITORY", "SIZE"]),
            row(&["a-very-long-container-name-1", "busybox", "4.26MB"]),
        ]);
        assert_eq!(
            t,
            "CONTAINER                      REPOSITORY          SIZE\n\
             a-very-long-container-name-1   busybox             4.26MB\n"
        );
    }

    #[test]
    fn only_a_header() {
        assert_eq!(render(&[row(&["A", "B"])]), "A                   B\n");
    }
}
