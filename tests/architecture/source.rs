//! Reads one Rust source file into what the rules look at: every path it names (in `use`
//! declarations, groups included, and written out in code), resolved to the crate module or the
//! external crate it points at, every `cfg(feature = ...)` gate, and every attribute's words. A
//! small lexer, not a parser:
//! comments (doc comments too), strings and character literals are skipped so nothing in them
//! counts, and that is all the precision the rules need.

use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

/// Where a path leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A module of this crate, from its root: `["bootstrap", "settings", "Settings"]`.
    Crate(Vec<String>),
    /// Another crate, or something the file does not declare as a module (`Vec::new`): its
    /// segments as written.
    External(Vec<String>),
}

/// One path the file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRef {
    pub line: usize,
    pub target: Target,
}

/// One `feature = "..."` condition in a `cfg` attribute or `cfg!` macro.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    pub line: usize,
    /// An attribute on a module declaration (`#[cfg(feature = "x")] pub mod x;`).
    pub on_mod: bool,
}

/// One attribute: `#[...]`, or `#![...]` (`inner`, on the enclosing module or crate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub line: usize,
    pub inner: bool,
    /// The identifiers inside the brackets, in order (`path`, or `allow`, `dead_code`).
    pub words: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Scan {
    pub paths: Vec<PathRef>,
    pub gates: Vec<Gate>,
    pub attributes: Vec<Attribute>,
}

/// Scans `src`, the file of module `module` (`["app", "send"]` for `src/app/send.rs`, empty for
/// the crate root).
pub fn scan(src: &str, module: &[String]) -> Scan {
    let tokens = lex(src);
    let scopes = Scopes::of(&tokens, module);
    let mut scan = Scan::default();
    let mut i = 0;
    while i < tokens.len() {
        let here = &scopes.at[i];
        match &tokens[i].tok {
            // `use<'a>` is precise capturing in `impl Trait + use<'a>`, not an import.
            Tok::Ident(w) if w == "use" && !matches!(tok(&tokens, i + 1), Some(Tok::Punct('<'))) => {
                let mut leaves = Vec::new();
                i += 1;
                use_tree(&tokens, &mut i, Vec::new(), &mut leaves);
                for (segments, line) in leaves {
                    scan.paths.push(PathRef { line, target: scopes.resolve(here, &segments) });
                }
                while i < tokens.len() && tokens[i].tok != Tok::Punct(';') {
                    i += 1;
                }
            }
            Tok::Ident(w) if w == "cfg" || w == "cfg_attr" => {
                if let Some(kind) = cfg_kind(&tokens, i)
                    && let Some(line) = feature_condition(&tokens, i)
                {
                    let on_mod = kind == Cfg::Attribute && attribute_on_mod(&tokens, i);
                    scan.gates.push(Gate { line, on_mod });
                }
                i += 1;
            }
            Tok::Punct('#') if matches!(tok(&tokens, i + 1), Some(Tok::Punct('[' | '!'))) => {
                if let Some(attribute) = attribute(&tokens, i) {
                    scan.attributes.push(attribute);
                }
                i += 1;
            }
            Tok::Ident(_) if starts_inline_path(&tokens, i) => {
                let line = tokens[i].line;
                let mut segments = Vec::new();
                while let Some(Tok::Ident(w)) = tok(&tokens, i) {
                    segments.push(w.clone());
                    if tok(&tokens, i + 1) == Some(&Tok::PathSep) && matches!(tok(&tokens, i + 2), Some(Tok::Ident(_)))
                    {
                        i += 2;
                    } else {
                        break;
                    }
                }
                i += 1;
                scan.paths.push(PathRef { line, target: scopes.resolve(here, &segments) });
            }
            _ => i += 1,
        }
    }
    scan
}

/// The attribute whose `#` is at `i`, if brackets follow.
fn attribute(tokens: &[Token], i: usize) -> Option<Attribute> {
    let inner = tok(tokens, i + 1) == Some(&Tok::Punct('!'));
    let open = if inner { i + 2 } else { i + 1 };
    if tok(tokens, open) != Some(&Tok::Punct('[')) {
        return None;
    }
    let mut words = Vec::new();
    let mut depth = 0;
    for t in &tokens[open..] {
        match &t.tok {
            Tok::Punct('[') => depth += 1,
            Tok::Punct(']') => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Tok::Ident(w) => words.push(w.clone()),
            _ => {}
        }
    }
    Some(Attribute { line: tokens[i].line, inner, words })
}

fn tok(tokens: &[Token], i: usize) -> Option<&Tok> {
    tokens.get(i).map(|t| &t.tok)
}

/// `a::b` in code whose `a` is not itself the tail of a longer path, a macro metavariable
/// (`$crate::`) or a `pub(in path)` visibility.
fn starts_inline_path(tokens: &[Token], i: usize) -> bool {
    let before = i.checked_sub(1).and_then(|p| tok(tokens, p));
    tok(tokens, i + 1) == Some(&Tok::PathSep)
        && !matches!(before, Some(Tok::PathSep) | Some(Tok::Punct('$')))
        && !matches!(before, Some(Tok::Ident(w)) if w == "in")
}

/// Reads one use tree at `i`, pushing each leaf path (with the line it ends on) to `out`.
fn use_tree(tokens: &[Token], i: &mut usize, mut path: Vec<String>, out: &mut Vec<(Vec<String>, usize)>) {
    let mut line = tokens.get(*i).map_or(0, |t| t.line);
    if tok(tokens, *i) == Some(&Tok::PathSep) {
        *i += 1; // `use ::std::...`: a leading `::` names an external crate either way.
    }
    loop {
        match tok(tokens, *i) {
            Some(Tok::Ident(w)) => {
                path.push(w.clone());
                line = tokens[*i].line;
                *i += 1;
                if tok(tokens, *i) == Some(&Tok::PathSep) {
                    *i += 1;
                    continue;
                }
                break;
            }
            Some(Tok::Punct('*')) => {
                path.push("*".to_owned());
                line = tokens[*i].line;
                *i += 1;
                break;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                while *i < tokens.len() && tok(tokens, *i) != Some(&Tok::Punct('}')) {
                    let before = *i;
                    use_tree(tokens, i, path.clone(), out);
                    if tok(tokens, *i) == Some(&Tok::Punct(',')) {
                        *i += 1;
                    }
                    if *i == before {
                        *i += 1; // not a tree: never loop on it
                    }
                }
                *i += 1;
                return;
            }
            _ => break,
        }
    }
    if matches!(tok(tokens, *i), Some(Tok::Ident(w)) if w == "as") {
        *i += 2;
    }
    // `use a::b::{self}` imports `a::b`.
    if path.last().is_some_and(|s| s == "self") && path.len() > 1 {
        path.pop();
    }
    if !path.is_empty() {
        out.push((path, line));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cfg {
    /// `#[cfg(...)]`, `#![cfg(...)]`, `#[cfg_attr(...)]`
    Attribute,
    /// `cfg!(...)`
    Macro,
}

/// Whether the `cfg`/`cfg_attr` at `i` is an attribute or the macro (or neither: a name).
fn cfg_kind(tokens: &[Token], i: usize) -> Option<Cfg> {
    if tok(tokens, i + 1) == Some(&Tok::Punct('!')) {
        return Some(Cfg::Macro);
    }
    let in_attribute = i >= 2 && tok(tokens, i - 1) == Some(&Tok::Punct('[')) && {
        let hash = if tok(tokens, i - 2) == Some(&Tok::Punct('!')) { i.checked_sub(3) } else { Some(i - 2) };
        hash.and_then(|h| tok(tokens, h)) == Some(&Tok::Punct('#'))
    };
    in_attribute.then_some(Cfg::Attribute)
}

/// The line of a `feature = ...` inside the parentheses after the `cfg` at `i`.
fn feature_condition(tokens: &[Token], i: usize) -> Option<usize> {
    let open = (i + 1..tokens.len()).find(|&j| tok(tokens, j) == Some(&Tok::Punct('(')))?;
    let mut depth = 0;
    for j in open..tokens.len() {
        match &tokens[j].tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return None;
                }
            }
            Tok::Ident(w) if w == "feature" && tok(tokens, j + 1) == Some(&Tok::Punct('=')) => {
                return Some(tokens[j].line);
            }
            _ => {}
        }
    }
    None
}

/// Whether the attribute holding the `cfg` at `i` (after any further attributes and a
/// visibility) stands on a `mod` item.
fn attribute_on_mod(tokens: &[Token], i: usize) -> bool {
    let mut j = i;
    loop {
        // Past the closing `]` of this attribute.
        let mut depth = 1;
        while depth > 0 {
            j += 1;
            match tok(tokens, j) {
                Some(Tok::Punct('[')) => depth += 1,
                Some(Tok::Punct(']')) => depth -= 1,
                None => return false,
                _ => {}
            }
        }
        j += 1;
        if tok(tokens, j) == Some(&Tok::Punct('#')) && tok(tokens, j + 1) == Some(&Tok::Punct('[')) {
            j += 1; // another attribute: skip it too
            continue;
        }
        break;
    }
    if matches!(tok(tokens, j), Some(Tok::Ident(w)) if w == "pub") {
        j += 1;
        if tok(tokens, j) == Some(&Tok::Punct('(')) {
            while tok(tokens, j).is_some_and(|t| *t != Tok::Punct(')')) {
                j += 1;
            }
            j += 1;
        }
    }
    matches!(tok(tokens, j), Some(Tok::Ident(w)) if w == "mod")
}

/// Which module each token sits in (the file's module plus inline `mod x { ... }` blocks), and
/// which modules each of those declares, so `super::`, `self::` and a bare `child::` resolve.
struct Scopes {
    /// The module path at each token.
    at: Vec<Vec<String>>,
    children: HashMap<Vec<String>, HashSet<String>>,
}

impl Scopes {
    fn of(tokens: &[Token], module: &[String]) -> Self {
        let mut at = Vec::with_capacity(tokens.len());
        let mut children: HashMap<Vec<String>, HashSet<String>> = HashMap::new();
        let mut current = module.to_vec();
        // Inline modules open, with the brace depth inside each.
        let mut open: Vec<usize> = Vec::new();
        let mut depth = 0;
        let mut pending: Option<String> = None;
        for (i, t) in tokens.iter().enumerate() {
            at.push(current.clone());
            match &t.tok {
                Tok::Ident(w) if w == "mod" => {
                    if let Some(Tok::Ident(name)) = tok(tokens, i + 1) {
                        children.entry(current.clone()).or_default().insert(name.clone());
                        if tok(tokens, i + 2) == Some(&Tok::Punct('{')) {
                            pending = Some(name.clone());
                        }
                    }
                }
                Tok::Punct('{') => {
                    depth += 1;
                    if let Some(name) = pending.take() {
                        current.push(name);
                        open.push(depth);
                    }
                }
                Tok::Punct('}') => {
                    if open.last() == Some(&depth) {
                        open.pop();
                        current.pop();
                    }
                    depth -= 1;
                }
                _ => {}
            }
        }
        Self { at, children }
    }

    fn resolve(&self, module: &[String], segments: &[String]) -> Target {
        let Some(first) = segments.first() else { return Target::External(Vec::new()) };
        match first.as_str() {
            "crate" => Target::Crate(segments[1..].to_vec()),
            "self" => Target::Crate([module, &segments[1..]].concat()),
            "super" => {
                let ups = segments.iter().take_while(|s| *s == "super").count();
                let base = &module[..module.len().saturating_sub(ups)];
                Target::Crate([base, &segments[ups..]].concat())
            }
            name if self.children.get(module).is_some_and(|c| c.contains(name)) => {
                Target::Crate([module, segments].concat())
            }
            _ => Target::External(segments.to_vec()),
        }
    }
}

fn lex(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let ident_char = |c: char| c == '_' || c.is_alphanumeric();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '/' if at(i + 1) == '/' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == '*' => {
                // Block comments nest in Rust.
                let mut depth = 0;
                loop {
                    if i >= chars.len() {
                        break;
                    } else if at(i) == '/' && at(i + 1) == '*' {
                        depth += 1;
                        i += 2;
                    } else if at(i) == '*' && at(i + 1) == '/' {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if at(i) == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            '"' => i = skip_string(&chars, i, &mut line),
            '\'' => i = skip_quote(&chars, i),
            c if c.is_ascii_digit() => {
                while i < chars.len() && ident_char(chars[i]) {
                    i += 1;
                }
            }
            c if ident_char(c) => {
                let start = i;
                while i < chars.len() && ident_char(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let hashes_then_quote = {
                    let mut j = i;
                    while at(j) == '#' {
                        j += 1;
                    }
                    at(j) == '"'
                };
                match word.as_str() {
                    "r" | "br" | "cr" if hashes_then_quote => i = skip_raw_string(&chars, i, &mut line),
                    "b" | "c" if at(i) == '"' => i = skip_string(&chars, i, &mut line),
                    "b" if at(i) == '\'' => i = skip_quote(&chars, i),
                    // A raw identifier, `r#type`.
                    "r" if at(i) == '#' && ident_char(at(i + 1)) => {
                        let start = i + 1;
                        i = start;
                        while i < chars.len() && ident_char(chars[i]) {
                            i += 1;
                        }
                        out.push(Token { tok: Tok::Ident(chars[start..i].iter().collect()), line });
                    }
                    _ => out.push(Token { tok: Tok::Ident(word), line }),
                }
            }
            ':' if at(i + 1) == ':' => {
                out.push(Token { tok: Tok::PathSep, line });
                i += 2;
            }
            c => {
                out.push(Token { tok: Tok::Punct(c), line });
                i += 1;
            }
        }
    }
    out
}

/// Past a `"..."` starting at `i`.
fn skip_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    i += 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if chars.get(i + 1) == Some(&'\n') {
                    *line += 1;
                }
                i += 2;
            }
            '"' => return i + 1,
            '\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

/// Past `#*"..."#*` starting at the first `#` or `"` after the `r` prefix.
fn skip_raw_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    let mut hashes = 0;
    while chars.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    i += 1; // the opening quote
    while i < chars.len() {
        if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        if chars[i] == '\n' {
            *line += 1;
        }
        i += 1;
    }
    i
}

/// Past a character literal (`'a'`, `'\n'`, `'\u{2603}'`) or a lifetime or label (`'a`).
fn skip_quote(chars: &[char], i: usize) -> usize {
    if chars.get(i + 1) == Some(&'\\') {
        let mut j = i + 3;
        while j < chars.len() && chars[j] != '\'' {
            j += 1;
        }
        return j + 1;
    }
    if chars.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    let mut j = i + 1;
    while j < chars.len() && (chars[j] == '_' || chars[j].is_alphanumeric()) {
        j += 1;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(path: &str) -> Vec<String> {
        path.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect()
    }

    fn crate_paths(src: &str, file_module: &str) -> Vec<(usize, String)> {
        scan(src, &module(file_module))
            .paths
            .into_iter()
            .filter_map(|p| match p.target {
                Target::Crate(segments) => Some((p.line, segments.join("::"))),
                Target::External(_) => None,
            })
            .collect()
    }

    #[test]
    fn groups_are_split_into_leaves_each_with_its_line() {
        let src = "use crate::{\n    domain::ClientId,\n    bootstrap::{settings::Settings, self},\n};\n";
        assert_eq!(
            crate_paths(src, "app::send"),
            [(2, "domain::ClientId".into()), (3, "bootstrap::settings::Settings".into()), (3, "bootstrap".into())]
        );
    }

    #[test]
    fn super_and_self_resolve_from_the_file_and_its_inline_modules() {
        let src = "use super::App;\nuse super::super::bootstrap::X;\nuse self::inner::Y;\n\
                   mod tests {\n    use super::*;\n    use super::super::Z;\n}\nuse super::W;\n";
        assert_eq!(
            crate_paths(src, "app::send"),
            [
                (1, "app::App".into()),
                (2, "bootstrap::X".into()),
                (3, "app::send::inner::Y".into()),
                (5, "app::send::*".into()),
                (6, "app::Z".into()),
                (8, "app::W".into()),
            ]
        );
    }

    #[test]
    fn paths_written_in_code_count_and_comments_and_strings_do_not() {
        let src = "/// use crate::bootstrap::A;\n// crate::bootstrap::B\n/* crate::bootstrap::C /* nested */ */\n\
                   fn f() { let s = \"crate::bootstrap::D\"; let r = r#\"crate::cli::E\"#; let c = '\"';\n\
                   let x = crate::bootstrap::settings::F::new(); <T as crate::cli::G>::h(); }\n\
                   pub(in crate::app) fn g<'a>(x: &'a str) -> impl Sized + use<'a> { $crate::x::Y }\n";
        assert_eq!(crate_paths(src, "app"), [(5, "bootstrap::settings::F::new".into()), (5, "cli::G".into())]);
    }

    #[test]
    fn declared_child_modules_resolve_and_other_names_are_external() {
        let src = "mod sqlite;\nuse sqlite::Store;\nuse sqlx::Pool;\nfn f() { tokio::net::TcpStream::connect(); }\n";
        let scan = scan(src, &module("adapters::store"));
        let targets: Vec<_> = scan.paths.into_iter().map(|p| p.target).collect();
        assert_eq!(
            targets,
            [
                Target::Crate(module("adapters::store::sqlite::Store")),
                Target::External(module("sqlx::Pool")),
                Target::External(module("tokio::net::TcpStream::connect")),
            ]
        );
    }

    #[test]
    fn attributes_are_read_with_their_words_and_strings_are_not() {
        let src = "#![allow(dead_code)]\n#[path = \"../support/mod.rs\"]\nmod support;\n\
                   fn f() { let s = \"#[path = \\\"x.rs\\\"]\"; }\n#[cfg_attr(test, allow(dead_code))]\nfn g() {}\n";
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            scan(src, &[]).attributes,
            [
                Attribute { line: 1, inner: true, words: words(&["allow", "dead_code"]) },
                Attribute { line: 2, inner: false, words: words(&["path"]) },
                Attribute { line: 5, inner: false, words: words(&["cfg_attr", "test", "allow", "dead_code"]) },
            ]
        );
    }

    #[test]
    fn feature_gates_are_found_and_told_apart_by_what_they_stand_on() {
        let src = "#[cfg(feature = \"redis\")]\npub mod redis;\n#[cfg(not(feature = \"otel\"))]\n\
                   #[path = \"off.rs\"]\nmod otlp;\n#[cfg(test)]\nmod tests {}\n\
                   #[cfg(all(feature = \"a\", test))]\nfn f() { if cfg!(feature = \"b\") {} }\n";
        assert_eq!(
            scan(src, &[]).gates,
            [
                Gate { line: 1, on_mod: true },
                Gate { line: 3, on_mod: true },
                Gate { line: 8, on_mod: false },
                Gate { line: 9, on_mod: false },
            ]
        );
    }
}
