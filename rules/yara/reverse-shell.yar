rule reverse_shell {
  meta:
    title = "Reverse shell"
    description = "Connects a socket and hands it a shell: socket + dup2 + /bin/sh, pty.spawn over a connected socket, bash /dev/tcp redirection, or nc -e."
    cwe = "CWE-506"
    level = "error"
    security_severity = "9.8"
    confidence = "high"
  strings:
    $sock = "socket.socket" ascii
    $dup2 = /dup2\s*\(/ ascii
    $sh = /\/bin\/(ba|z|da)?sh/ ascii
    $pty = "pty.spawn" ascii
    $connect = /\.connect\s*\(\s*\(/ ascii
    $devtcp = /\/dev\/(tcp|udp)\/[A-Za-z0-9.\-]{1,255}\/[0-9]{1,5}/ ascii
    $nc = / -e \/bin\/(ba|z|da)?sh/ ascii
  condition:
    ($sock and $dup2 and ($sh or $pty)) or ($pty and $connect) or $devtcp or $nc
}
