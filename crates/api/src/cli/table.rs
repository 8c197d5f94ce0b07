//! Plain-text tables for the shell commands: columns padded to their widest cell, numbers
//! right-aligned, `-` for absent values.

/// Renders `rows` under `headers`; a cell that parses as a number is right-aligned.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| {
                if cell.parse::<f64>().is_ok() {
                    format!("{cell:>width$}")
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// A value or `-`.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::{or_dash, render};

    #[test]
    fn absent_values_show_a_dash() {
        assert_eq!(
            render(
                &["SLUG", "BUDGET"],
                &[vec!["b".into(), or_dash(None::<i64>)]]
            ),
            "SLUG  BUDGET\nb     -\n"
        );
    }

    #[test]
    fn columns_line_up_and_numbers_align_right() {
        let table = render(
            &["team", "charged"],
            &[
                vec!["alpha".into(), "7".into()],
                vec!["beta-team".into(), "1200".into()],
            ],
        );
        assert_eq!(
            table,
            "team       charged\nalpha            7\nbeta-team     1200\n"
        );
    }
}
