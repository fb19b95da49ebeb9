rule download_execute {
  meta:
    title = "Download-and-execute chain"
    description = "Downloads a payload and runs it: curl/wget piped into a shell or python, exec of a fetched response, or a download made executable and started."
    cwe = "CWE-494"
    level = "error"
    security_severity = "9.0"
    confidence = "high"
  strings:
    $pipe = /(curl|wget)\s[^\n]{0,300}\|\s*(sudo\s+)?((ba|z|da)?sh|python[0-9.]*)\b/ ascii
    $exec_fetch = /(exec|eval)\s*\(\s*(urllib\.request\.|urllib2\.)?(urlopen|requests\.get|httpx\.get)\s*\(/ ascii
    $dl = /(urlretrieve|wget |curl )/ ascii
    $chmod = /(chmod\s*\(|chmod \+x|0o7[0-7][0-7])/ ascii
    $run = /(os\.system|subprocess\.|os\.exec|Popen\s*\()/ ascii
  condition:
    $pipe or $exec_fetch or ($dl and $chmod and $run)
}
