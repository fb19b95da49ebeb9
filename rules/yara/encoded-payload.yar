rule encoded_payload {
  meta:
    title = "Encoded payload executed"
    description = "A long base64 blob of Python source or zlib/gzip data, or a long hex-escaped blob, in a file that also executes or unmarshals code (exec, eval, marshal.loads)."
    cwe = "CWE-506"
    level = "error"
    security_severity = "8.5"
    confidence = "medium"
  strings:
    // base64 of "import", "from ", "exec(", "eval(", a gzip or a zlib header, then a long run.
    $b64 = /(aW1wb3J0|ZnJvbSA|ZXhlYy|ZXZhbC|H4sI|eJz|eJy|eNp|eNq|eF[a-z])[A-Za-z0-9+\/]{300}/ ascii
    $hex = /(\\x[0-9a-fA-F]{2}){200}/ ascii
    $exec = /[^.\w](exec|eval)\s*\(/ ascii
    $marshal = "marshal.loads" ascii
  condition:
    ($b64 or $hex) and ($exec or $marshal)
}
