//! Jupyter notebooks: extract the code cells as one Python source, keeping for
//! every source line the `.ipynb` file line where it is stored and its cell index.
//!
//! serde_json drops positions, so a small JSON reader that records the line of
//! every string is used instead.

/// The Python source of a notebook's code cells and where each line came from.
#[derive(Debug, Default)]
pub struct NotebookSource {
    pub code: String,
    /// For each line of `code` (0-based): (1-based line in the .ipynb file, cell index).
    pub lines: Vec<(u32, u32)>,
}

#[derive(Debug)]
enum Json {
    Str(String, u32),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
    Other,
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
    line: u32,
    depth: usize,
}

const MAX_DEPTH: usize = 256;

impl Reader<'_> {
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => break,
            }
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!(
            "malformed notebook JSON at line {}: {what}",
            self.line
        ))
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.b.get(self.i) {
            Some(b'"') => {
                let line = self.line;
                Ok(Json::Str(self.string()?, line))
            }
            Some(b'[') => {
                self.enter()?;
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            break;
                        }
                        _ => return self.err("expected , or ]"),
                    }
                }
                self.depth -= 1;
                Ok(Json::Arr(items))
            }
            Some(b'{') => {
                self.enter()?;
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Json::Obj(members));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return self.err("expected a key");
                    }
                    let key = self.string()?;
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return self.err("expected :");
                    }
                    self.i += 1;
                    let v = self.value()?;
                    members.push((key, v));
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            break;
                        }
                        _ => return self.err("expected , or }"),
                    }
                }
                self.depth -= 1;
                Ok(Json::Obj(members))
            }
            Some(c) if c.is_ascii_alphanumeric() || *c == b'-' => {
                let start = self.i;
                while let Some(c) = self.b.get(self.i) {
                    if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.') {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
                let tok = &self.b[start..self.i];
                let ok = matches!(tok, b"true" | b"false" | b"null")
                    || std::str::from_utf8(tok).is_ok_and(|t| t.parse::<f64>().is_ok());
                if ok {
                    Ok(Json::Other)
                } else {
                    self.err("bad literal")
                }
            }
            Some(_) => self.err("unexpected character"),
            None => self.err("unexpected end"),
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("nested too deeply");
        }
        Ok(())
    }

    /// Read a string starting at the opening quote; the JSON text of a string
    /// cannot contain a raw newline, so `line` is unchanged.
    fn string(&mut self) -> Result<String, String> {
        let start = self.i;
        self.i += 1;
        loop {
            match self.b.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => self.i += 2,
                Some(b'\n') => return self.err("newline in string"),
                Some(_) => self.i += 1,
                None => return self.err("unterminated string"),
            }
        }
        let raw = &self.b[start..self.i];
        serde_json::from_slice::<String>(raw).or_else(|e| self.err(&e.to_string()))
    }
}

fn get<'a>(obj: &'a [(String, Json)], key: &str) -> Option<&'a Json> {
    obj.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// IPython cell magics whose body is still Python.
const PYTHON_CELL_MAGICS: &[&str] = &["time", "timeit", "capture", "prun", "debug", "memit"];

/// Parse a notebook and return its code cells as one Python source.
pub fn extract(bytes: &[u8]) -> Result<NotebookSource, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("invalid UTF-8: {e}"))?;
    let mut r = Reader {
        b: text.as_bytes(),
        i: 0,
        line: 1,
        depth: 0,
    };
    let root = r.value()?;
    r.ws();
    if r.i != r.b.len() {
        return r.err("trailing data");
    }
    let Json::Obj(root) = root else {
        return Err("malformed notebook: the root is not an object".into());
    };
    let Some(Json::Arr(cells)) = get(&root, "cells") else {
        return Err("malformed notebook: no \"cells\" list".into());
    };
    let mut out = NotebookSource::default();
    for (idx, cell) in cells.iter().enumerate() {
        let Json::Obj(cell) = cell else {
            return Err(format!("malformed notebook: cell {idx} is not an object"));
        };
        if !matches!(get(cell, "cell_type"), Some(Json::Str(t, _)) if t == "code") {
            continue;
        }
        // (text, file line) for every source line of the cell.
        let mut lines: Vec<(String, u32)> = Vec::new();
        match get(cell, "source") {
            Some(Json::Str(s, line)) => lines.extend(
                s.split('\n')
                    .map(|l| (l.trim_end_matches('\r').to_string(), *line)),
            ),
            Some(Json::Arr(parts)) => {
                // Each element normally holds one line ending in "\n"; an element
                // without a newline continues on the next element.
                let mut cur = String::new();
                let mut cur_line = None;
                for p in parts {
                    let Json::Str(s, line) = p else {
                        return Err(format!("malformed notebook: cell {idx} source"));
                    };
                    for (k, piece) in s.split('\n').enumerate() {
                        if k > 0 {
                            lines.push((std::mem::take(&mut cur), cur_line.unwrap_or(*line)));
                            cur_line = None;
                        }
                        // The empty piece after a final newline belongs to no line yet.
                        if cur_line.is_none() && !piece.is_empty() {
                            cur_line = Some(*line);
                        }
                        cur.push_str(piece.trim_end_matches('\r'));
                    }
                }
                if !cur.is_empty() {
                    lines.push((cur, cur_line.unwrap_or(0)));
                }
            }
            None => continue,
            _ => return Err(format!("malformed notebook: cell {idx} source")),
        }
        let cell_idx = u32::try_from(idx).unwrap_or(u32::MAX);
        let texts: Vec<&str> = lines.iter().map(|(t, _)| t.as_str()).collect();
        // %%bash, %%writefile, %%html...: the body is not Python.
        let Some(code) = neutralise_cell(&texts) else {
            continue;
        };
        for (text, (_, line)) in code.into_iter().zip(&lines) {
            out.code.push_str(&text);
            out.code.push('\n');
            out.lines.push((*line, cell_idx));
        }
        // A blank line between cells keeps one cell's open bracket from eating the next.
        out.code.push('\n');
        out.lines.push((0, cell_idx));
    }
    Ok(out)
}

/// Where a line starts in Python's tokenizer state.
#[derive(Clone, Copy, Default, PartialEq)]
struct LexState {
    /// Open brackets.
    depth: usize,
    /// Inside a triple-quoted string opened with this quote.
    triple: Option<u8>,
    /// The previous line ended with a backslash.
    continued: bool,
}

impl LexState {
    /// A new logical line starts here (where IPython looks for magics).
    fn at_statement(&self) -> bool {
        self.depth == 0 && self.triple.is_none() && !self.continued
    }

    /// Move past `line`; true when its code (outside strings and comments)
    /// ends with `?` (IPython's help syntax).
    fn advance(&mut self, line: &str) -> bool {
        let b = line.as_bytes();
        let mut i = 0;
        let mut last_code: Option<u8> = None;
        self.continued = false;
        while i < b.len() {
            if let Some(q) = self.triple {
                if b[i] == b'\\' {
                    i += 2;
                } else if b[i..].starts_with(&[q, q, q]) {
                    self.triple = None;
                    i += 3;
                } else {
                    i += 1;
                }
                continue;
            }
            let c = b[i];
            match c {
                b'#' => break,
                b'\'' | b'"' => {
                    if b[i..].starts_with(&[c, c, c]) {
                        self.triple = Some(c);
                        i += 3;
                        continue;
                    }
                    // A one-line string: to its closing quote or the line's end.
                    i += 1;
                    while i < b.len() && b[i] != c {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                    last_code = Some(c);
                    continue;
                }
                b'(' | b'[' | b'{' => self.depth += 1,
                b')' | b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                b'\\' if i + 1 == b.len() => {
                    self.continued = true;
                    break;
                }
                _ => {}
            }
            if !c.is_ascii_whitespace() {
                last_code = Some(c);
            }
            i += 1;
        }
        self.triple.is_none() && last_code == Some(b'?')
    }
}

/// IPython's syntax in one cell turned into Python with the same lines: magics,
/// shell escapes and help lines become `pass` at their indentation, the lines
/// they continue with a trailing backslash become empty. `None` for a cell
/// whose body is not Python (`%%bash`, `%%writefile`, ...).
fn neutralise_cell(lines: &[&str]) -> Option<Vec<String>> {
    let mut out = Vec::with_capacity(lines.len());
    let mut state = LexState::default();
    // Inside a magic continued by a trailing backslash.
    let mut magic_continues = false;
    let mut first_code = true;
    for line in lines {
        if magic_continues {
            magic_continues = line.trim_end().ends_with('\\');
            out.push(String::new());
            continue;
        }
        let body = line.trim_start();
        if first_code && !body.is_empty() {
            first_code = false;
            if let Some(magic) = body.strip_prefix("%%") {
                let name = magic.split_whitespace().next().unwrap_or("");
                if !PYTHON_CELL_MAGICS.contains(&name) {
                    return None;
                }
                // The rest of the cell is Python (`%%time`, `%%capture out`).
                out.push(String::new());
                continue;
            }
        }
        if state.at_statement() {
            let before = state;
            let help = state.advance(line);
            if is_magic(body) || body.starts_with('?') || help {
                let indent = &line[..line.len() - body.len()];
                out.push(format!("{indent}pass"));
                // A magic's own brackets and quotes are not Python's.
                state = before;
                magic_continues = line.trim_end().ends_with('\\');
                continue;
            }
        } else {
            state.advance(line);
        }
        out.push((*line).to_string());
    }
    Some(out)
}

/// Does a logical line hold a line magic or a shell escape (`%pip`, `!ls`,
/// `files = !ls`, `t = %timeit f()`)?
fn is_magic(body: &str) -> bool {
    if body.starts_with('%') || body.starts_with('!') {
        return true;
    }
    let mut end = 0;
    for (i, c) in body.char_indices() {
        if !(c.is_alphanumeric() || c == '_' || c == '.' || c == ',' || c == ' ') {
            end = i;
            break;
        }
    }
    end > 0
        && body[end..].starts_with('=')
        && !body[end..].starts_with("==")
        && body[end + 1..].trim_start().starts_with(['!', '%'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_map_to_the_ipynb_file() {
        let nb = "{\n \"cells\": [\n  {\n   \"cell_type\": \"code\",\n   \"source\": [\n    \"%matplotlib inline\\n\",\n    \"x = 1\\n\",\n    \"!pip install y\"\n   ]\n  }\n ]\n}\n";
        let s = extract(nb.as_bytes()).unwrap();
        assert_eq!(s.code, "pass\nx = 1\npass\n\n");
        assert_eq!(s.lines[1], (7, 0));
        assert_eq!(s.lines[2], (8, 0));
    }

    fn cell(lines: &[&str]) -> Option<Vec<String>> {
        neutralise_cell(lines)
    }

    #[test]
    fn assignment_from_shell_is_neutralised() {
        assert_eq!(
            cell(&["if x:", "    files = !ls", "x == 1", "x = 1 % 2"]).unwrap(),
            ["if x:", "    pass", "x == 1", "x = 1 % 2"]
        );
    }

    #[test]
    fn magics_continued_with_a_backslash_keep_the_lines() {
        assert_eq!(
            cell(&[
                "!pip install \\",
                "    transformers \\",
                "    'torch>=2'",
                "%env A=1 \\",
                "  B=2",
                "x = (1 +",
                "    2)",
            ])
            .unwrap(),
            ["pass", "", "", "pass", "", "x = (1 +", "    2)"]
        );
    }

    #[test]
    fn cell_magics() {
        assert_eq!(cell(&["%%bash", "echo hi"]), None);
        assert_eq!(cell(&["", "  %%writefile x.py", "import os"]), None);
        assert_eq!(
            cell(&["%%capture out", "import os"]).unwrap(),
            ["", "import os"]
        );
        assert_eq!(
            cell(&["%%time", "x = 1", "%%time"]).unwrap(),
            ["", "x = 1", "pass"]
        );
    }

    #[test]
    fn help_syntax() {
        assert_eq!(
            cell(&[
                "AutoModel.from_pretrained?",
                "??AutoModel",
                "  obj.method??  # look",
                "x = 1  # what?",
                "y = 'why?'",
            ])
            .unwrap(),
            ["pass", "pass", "  pass", "x = 1  # what?", "y = 'why?'"]
        );
    }

    #[test]
    fn magic_look_alikes_inside_strings_and_brackets_stay() {
        let lines = [
            "s = \"\"\"",
            "!not a magic",
            "%neither?",
            "\"\"\"",
            "t = f(1,",
            "      ?2)",
            "u = 1 + \\",
            "    !x",
        ];
        assert_eq!(cell(&lines).unwrap(), lines);
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(extract(b"{\"cells\": [").is_err());
        assert!(extract(b"[]").is_err());
    }
}
