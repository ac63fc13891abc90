//! What an import did: per kind of row, how many were imported, unchanged or skipped, every
//! skipped row with its reason, and notes on rows imported with a caveat.

use std::fmt;

/// The three kinds of rows an import copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Projects,
    Clients,
    Claims,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Projects => "projects",
            Kind::Clients => "clients",
            Kind::Claims => "claims",
        }
    }
}

/// What became of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Written (or, in a dry run, would be).
    Imported,
    /// Already here as it is there: nothing to write.
    Unchanged,
    /// Not imported, and why.
    Skipped(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub imported: u64,
    pub unchanged: u64,
    pub skipped: u64,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub dry_run: bool,
    pub projects: Counts,
    pub clients: Counts,
    pub claims: Counts,
    /// `(kind, row, reason)` for every skipped row.
    pub skipped: Vec<(Kind, String, String)>,
    /// Rows imported with something the operator must know (a suspension, a legacy FCM key),
    /// and whole kinds not imported (claims with in-memory dedup).
    pub notes: Vec<String>,
}

impl Summary {
    pub fn new(dry_run: bool) -> Self {
        Self { dry_run, ..Self::default() }
    }

    pub fn counts(&self, kind: Kind) -> Counts {
        match kind {
            Kind::Projects => self.projects,
            Kind::Clients => self.clients,
            Kind::Claims => self.claims,
        }
    }

    pub fn record(&mut self, kind: Kind, row: &str, outcome: Outcome) {
        let counts = match kind {
            Kind::Projects => &mut self.projects,
            Kind::Clients => &mut self.clients,
            Kind::Claims => &mut self.claims,
        };
        match outcome {
            Outcome::Imported => counts.imported += 1,
            Outcome::Unchanged => counts.unchanged += 1,
            Outcome::Skipped(reason) => {
                counts.skipped += 1;
                self.skipped.push((kind, row.to_owned(), reason));
            }
        }
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run { "would import" } else { "imported" };
        if self.dry_run {
            writeln!(f, "dry run: nothing was written")?;
        }
        for kind in [Kind::Projects, Kind::Clients, Kind::Claims] {
            let c = self.counts(kind);
            writeln!(f, "{:<9} {verb} {}, unchanged {}, skipped {}", kind.label(), c.imported, c.unchanged, c.skipped)?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        for (kind, row, reason) in &self.skipped {
            writeln!(f, "skipped {} {row}: {reason}", &kind.label()[..kind.label().len() - 1])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_counts_notes_and_a_reason_per_skipped_row() {
        let mut s = Summary::new(true);
        s.record(Kind::Clients, "c1", Outcome::Imported);
        s.record(Kind::Clients, "c2", Outcome::Unchanged);
        s.record(Kind::Clients, "c3", Outcome::Skipped("bad token".into()));
        s.note("tenant t is suspended");
        let text = s.to_string();
        assert!(text.starts_with("dry run: nothing was written\n"), "{text}");
        assert!(text.contains("clients   would import 1, unchanged 1, skipped 1\n"), "{text}");
        assert!(text.contains("note: tenant t is suspended\n"), "{text}");
        assert!(text.contains("skipped client c3: bad token\n"), "{text}");
    }
}
