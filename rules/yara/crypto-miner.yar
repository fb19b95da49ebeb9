rule crypto_miner {
  meta:
    title = "Crypto-miner"
    description = "Mining pool URLs (stratum), miner binaries or options (xmrig, cryptonight, --donate-level)."
    cwe = "CWE-506"
    level = "error"
    security_severity = "8.5"
    confidence = "high"
  strings:
    $stratum = /stratum\+(tcp|ssl|tls):\/\// ascii nocase
    $xmrig = "xmrig" ascii nocase
    $cn = "cryptonight" ascii nocase
    $donate = "--donate-level" ascii
    $pool = /(minexmr|nanopool|supportxmr|hashvault|moneroocean|2miners|nicehash)\.(com|org|net|pro)/ ascii nocase
  condition:
    any of them
}
