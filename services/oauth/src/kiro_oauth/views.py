"""Server-rendered HTML of the `/oauth` accounts page (the behaviour is in `static/oauth.js`)."""

from __future__ import annotations

from html import escape

STATIC = "/oauth/static"


def accounts_page(*, csrf_token: str | None, builder_id_start_url: str, default_region: str) -> str:
    csrf_meta = f'<meta name="csrf-token" content="{escape(csrf_token)}">' if csrf_token else ""
    logout = (
        '<form method="post" action="/api/logout" class="logout">'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">'
        '<button type="submit" class="ghost">Sign out</button></form>'
        if csrf_token
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Kiro2API · add accounts</title>{csrf_meta}"
        f'<link rel="stylesheet" href="{STATIC}/app.css"><link rel="icon" href="data:,"></head><body>'
        '<header class="top"><div class="brand"><span class="brand-mark">K</span> Kiro2API</div>'
        '<nav class="tabs"><a href="/#pool" class="tab">Pool</a><a href="/#traffic" class="tab">Traffic</a>'
        '<a href="/oauth" class="tab" aria-selected="true">Add account</a></nav>'
        f"{logout}</header><main>"
        '<p class="muted">Every account added here is checked with an immediate token refresh before the '
        "pool accepts it, and then appears on the pool page.</p>"
        '<div class="panels">'
        # --- Builder ID
        '<section class="panel" id="panel-builder"><h2>AWS Builder ID</h2>'
        '<p class="muted small">Device sign-in: you get a code to confirm on the AWS page '
        f"({escape(builder_id_start_url)}).</p>"
        '<form id="builder-form" data-kind="builder_id">'
        '<button type="submit" class="primary" id="builder-start">Sign in with Builder ID</button></form>'
        '<div class="device hidden" id="builder-device"></div></section>'
        # --- IAM Identity Center
        '<section class="panel" id="panel-idc"><h2>IAM Identity Center</h2>'
        '<p class="muted small">Your organisation\'s start URL and region.</p>'
        '<form id="idc-form" data-kind="idc">'
        '<label for="idc-start-url">Start URL</label>'
        '<input id="idc-start-url" name="start_url" required'
        ' placeholder="https://d-1234567890.awsapps.com/start">'
        '<label for="idc-region">Region</label>'
        f'<input id="idc-region" name="region" value="{escape(default_region)}" required>'
        '<button type="submit" class="primary" id="idc-start">Start sign-in</button></form>'
        '<div class="device hidden" id="idc-device"></div></section>'
        # --- Social
        '<section class="panel" id="panel-social"><h2>Google or GitHub</h2>'
        '<p class="muted small">Through the Kiro sign-in portal. It ends by sending your browser to a '
        "<code>kiro://</code> address that only the Kiro IDE opens: copy that address (from the "
        "address bar or the &quot;open Kiro?&quot; prompt) and paste it below.</p>"
        '<div class="row"><button type="button" class="primary" data-idp="Google" id="social-google">'
        'Sign in with Google</button><button type="button" class="primary" data-idp="Github" '
        'id="social-github">Sign in with GitHub</button></div>'
        '<div class="hidden" id="social-step"><p class="small">1. Open the sign-in page:</p>'
        '<p class="link-box"><a id="social-link" target="_blank" rel="noopener noreferrer"></a></p>'
        '<form id="social-form"><label for="social-url">2. Paste the final kiro:// address</label>'
        '<input id="social-url" name="redirect_url" required autocomplete="off"'
        ' placeholder="kiro://kiro.kiroAgent/authenticate-success?code=...&amp;state=...">'
        '<button type="submit" class="primary" id="social-finish">Add account</button></form></div>'
        '<div id="social-result"></div></section>'
        # --- Import
        '<section class="panel" id="panel-import"><h2>Import</h2>'
        '<p class="muted small">Paste a credential JSON (the <code>KIRO_AUTH_TOKEN</code> format, one object '
        "or a list), or choose the Kiro IDE's <code>kiro-auth-token.json</code> (in <code>~/.aws/sso/cache/"
        "</code>) and, for Builder ID / Identity Center, the client registration file that its "
        "<code>clientIdHash</code> names.</p>"
        '<form id="import-form">'
        '<label for="import-json">Credential JSON</label>'
        '<textarea id="import-json" name="credentials" spellcheck="false"></textarea>'
        '<label for="import-file">kiro-auth-token.json</label>'
        '<input type="file" id="import-file" accept=".json,application/json">'
        '<label for="import-reg-file">Client registration file (optional)</label>'
        '<input type="file" id="import-reg-file" accept=".json,application/json">'
        '<button type="submit" class="primary" id="import-submit">Import</button></form>'
        '<div id="import-result"></div></section>'
        "</div></main>"
        '<script src="' + STATIC + '/oauth.js"></script></body></html>'
    )
