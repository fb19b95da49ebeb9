rule encoded_payload {
  meta:
    title = "Encoded payload executed"
    description = "A long base64 or hex blob in a file that also executes or unmarshals code (exec, eval, marshal.loads)."
    cwe = "CWE-506"
    level = "error"
    security_severity = "8.5"
    confidence = "medium"
  strings:
    $b64 = /[A-Za-z0-9+\/]{600}/ ascii
    $hex = /(\\x[0-9a-fA-F]{2}){200}/ ascii
    $exec = /[^.\w](exec|eval)\s*\(/ ascii
    $marshal = "marshal.loads" ascii
  condition:
    ($b64 or $hex) and ($exec or $marshal)
}
