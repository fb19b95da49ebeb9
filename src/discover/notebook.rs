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
        if let Some((first, _)) = lines.first() {
            let t = first.trim_start();
            if let Some(magic) = t.strip_prefix("%%") {
                let name = magic.split_whitespace().next().unwrap_or("");
                if !PYTHON_CELL_MAGICS.contains(&name) {
                    // %%bash, %%writefile, %%html...: the body is not Python.
                    continue;
                }
            }
        }
        for (text, line) in lines {
            out.code.push_str(&neutralise(&text));
            out.code.push('\n');
            out.lines.push((line, cell_idx));
        }
        // A blank line between cells keeps one cell's open bracket from eating the next.
        out.code.push('\n');
        out.lines.push((0, cell_idx));
    }
    Ok(out)
}

/// Replace an IPython magic or shell escape by `pass` at the same indentation, so
/// the line count and the block structure stay intact.
fn neutralise(line: &str) -> String {
    let body = line.trim_start();
    let indent = &line[..line.len() - body.len()];
    let is_magic = body.starts_with('%') || body.starts_with('!') || {
        // `files = !ls` and `t = %timeit ...`
        let mut chars = body.char_indices();
        let mut end = 0;
        for (i, c) in chars.by_ref() {
            if !(c.is_alphanumeric() || c == '_' || c == '.' || c == ',' || c == ' ') {
                end = i;
                break;
            }
        }
        end > 0
            && body[end..].starts_with('=')
            && !body[end..].starts_with("==")
            && body[end + 1..].trim_start().starts_with(['!', '%'])
    };
    if is_magic {
        format!("{indent}pass")
    } else {
        line.to_string()
    }
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

    #[test]
    fn assignment_from_shell_is_neutralised() {
        assert_eq!(neutralise("    files = !ls"), "    pass");
        assert_eq!(neutralise("x == 1"), "x == 1");
        assert_eq!(neutralise("x = 1 % 2"), "x = 1 % 2");
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(extract(b"{\"cells\": [").is_err());
        assert!(extract(b"[]").is_err());
    }
}
