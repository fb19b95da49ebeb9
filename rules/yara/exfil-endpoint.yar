rule exfil_endpoint {
  meta:
    title = "Exfiltration endpoint"
    description = "Chat webhooks (Discord, Slack), the Telegram bot API, paste sites, request catchers, tunnels (ngrok-like) or URLs with a raw public IP address."
    cwe = "CWE-200"
    level = "error"
    security_severity = "8.0"
    confidence = "medium"
  strings:
    $discord = /discord(app)?\.com\/api\/webhooks\// ascii nocase
    $slack = "hooks.slack.com/services/" ascii nocase
    $telegram = /api\.telegram\.org\/bot/ ascii nocase
    $paste = /(pastebin\.com\/api|paste\.ee\/|hastebin\.com|transfer\.sh|0x0\.st|termbin\.com)/ ascii nocase
    $catcher = /(webhook\.site|requestbin|pipedream\.net|interact\.sh|oast\.(fun|me|pro|live|site)|burpcollaborator\.net|canarytokens)/ ascii nocase
    $tunnel = /[a-z0-9\-]+\.(ngrok\.io|ngrok-free\.app|ngrok\.app|trycloudflare\.com|loca\.lt|serveo\.net|localhost\.run)/ ascii nocase
    $rawip = /https?:\/\/([1-9][0-9]?|1[01][0-9]|12[0-68-9]|1[3-9][0-9]|2[0-4][0-9]|25[0-5])\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(:[0-9]{1,5})?\// ascii
  condition:
    any of them
}
