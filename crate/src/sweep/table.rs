//! A sweep's results as a table: HTML in a notebook, aligned text in a terminal.
use super::{MissingRun, SweepRow};

/// One row per run. A notebook cell ending with a `Table` shows it as HTML.
#[derive(Debug, Clone)]
pub struct Table {
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(runs: &[SweepRow], missing: &[MissingRun]) -> Self {
        let header = vec![
            "run",
            "test acc %",
            "scatter ratio",
            "nearest-mean acc %",
            "silhouette",
            "mean dist. to own mean",
            "min dist. between means",
            "seconds",
            "source",
        ];
        let rows = runs
            .iter()
            .map(|r| {
                let (rep, m) = (&r.run.report, &r.run.report.metrics);
                vec![
                    r.label.clone(),
                    format!("{:.2}", rep.test_accuracy),
                    format!("{:.4}", m.scatter_ratio),
                    format!("{:.2}", m.nearest_mean_accuracy),
                    format!("{:.3}", m.silhouette),
                    format!("{:.3}", m.mean_distance_to_own_mean),
                    format!("{:.3}", m.min_distance_between_means),
                    format!("{:.1}", rep.train_seconds()),
                    r.source.to_string(),
                ]
            })
            .chain(missing.iter().map(|m| {
                let mut row = vec![m.label.clone()];
                row.extend((2..header.len()).map(|_| "-".to_string()));
                row.push(if m.diverged { "diverged" } else { "missing" }.to_string());
                row
            }))
            .collect();
        Table { header, rows }
    }

    pub fn to_html(&self) -> String {
        let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let cells =
            |tag: &str, row: &mut dyn Iterator<Item = String>| row.map(|c| format!("<{tag}>{}</{tag}>", escape(&c))).collect::<String>();
        let mut html = String::from("<table>\n<thead><tr>");
        html.push_str(&cells("th", &mut self.header.iter().map(|h| h.to_string())));
        html.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            html.push_str(&format!("<tr>{}</tr>\n", cells("td", &mut row.iter().cloned())));
        }
        html.push_str("</tbody>\n</table>");
        html
    }

    /// Markdown, for notes and README files.
    pub fn to_markdown(&self) -> String {
        let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        let mut md = line(self.header.iter().map(|h| h.to_string()).collect());
        md.push_str(&line(self.header.iter().map(|_| "---".to_string()).collect()));
        for row in &self.rows {
            md.push_str(&line(row.clone()));
        }
        md
    }

    /// evcxr calls this to show a value: the table as HTML.
    pub fn evcxr_display(&self) {
        println!("EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT", self.to_html());
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| self.rows.iter().map(|r| r[i].chars().count()).chain([self.header[i].len()]).max().unwrap_or(0))
            .collect();
        let mut line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            writeln!(f, "{}", padded.join("  ").trim_end())
        };
        line(self.header.clone())?;
        for row in &self.rows {
            line(row.iter().map(|s| s.as_str()).collect())?;
        }
        Ok(())
    }
}
