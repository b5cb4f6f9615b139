#!/usr/bin/env python3
"""Set up ChatGPT in a real authentik the way an admin following authentik's
"Integrate with ChatGPT" guide would: through the REST API, one object at a time, no blueprint.

Usage:
    guide-app.py [BASE_URL] [--delete] [--no-check]

BASE_URL defaults to http://127.0.0.1:9000. The API token comes from AK_E2E_AUTHENTIK_TOKEN.
Other settings (all optional):
    GUIDE_CLIENT_SECRET   OAuth2 client secret (default guide-client-secret-1)
    GUIDE_REDIRECT_URI    ChatGPT's login redirect URI
                          (default http://127.0.0.1:18087/sso/oidc/conn_authentik/callback)
    GUIDE_<USER>_PASSWORD password of guide-<user>, e.g. GUIDE_ANN_PASSWORD
                          (default guide-<user>-password-1)

The script is idempotent: it finds every object by its fixed name or slug and updates or reuses
it, so running it twice is fine. It prints one line per object:
    <kind> <name> <pk> <created|updated|reused|deleted|absent>
and then, unless --no-check, one line per access check, and exits 1 when an access check does not
match the intended outcome.

Access design. The application has two bindings: the group guide-chatgpt-users (order 0) and the
expression policy guide-chatgpt-not-eve (order 1). With policy_engine_mode "any" a single passing
binding lets the user in, so guide-eve (a group member) would get in through the group binding
and the policy would not matter. The script therefore uses policy_engine_mode "all": a user needs
the group AND the policy. Result: ann and cid pass, bob is refused (not in the group, no message),
eve is refused with the policy's message "ChatGPT is not for eve".

Two more ChatGPT applications, deliberately misconfigured (material for `ak-e2e doctor`):
  guide-broken  "ChatGPT (broken)", provider guide-broken: public client, redirect URI regex
                "https://.*", scopes openid + email + authentik's managed default profile
                mapping, signed by its own key pair guide-broken-signing (RSA, valid 10 days),
                sub_mode user_email, access_token_validity seconds=30,
                include_claims_in_id_token false, and no bindings at all (everyone gets in).
  guide-hs256   "ChatGPT (no signing key)", provider guide-hs256: confidential (same client
                secret and redirect URI as guide-chatgpt), scopes openid + guide-chatgpt-profile
                only (no email), no signing key (ID tokens are HS256) but encryption_key
                guide-chatgpt-signing; one binding: the group guide-chatgpt-users (order 0).
Each run resets their settings and bindings like those of guide-chatgpt. The access checks cover
them too: everyone passes guide-broken; ann, cid and eve pass guide-hs256, bob is refused.

--delete removes everything the script creates (bindings, applications, providers,
certificate-key pairs, scope mapping, policy, users, group), dependents first, reporting
"deleted" or "absent" for each.

Python 3 standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

API = "/api/v3"

GROUP_NAME = "guide-chatgpt-users"
POLICY_NAME = "guide-chatgpt-not-eve"
MAPPING_NAME = "guide-chatgpt-profile"
KEYPAIR_NAME = "guide-chatgpt-signing"
PROVIDER_NAME = "guide-chatgpt"
CLIENT_ID = "guide-chatgpt"
APP_SLUG = "guide-chatgpt"
APP_NAME = "ChatGPT (guide)"
POLICY_ENGINE_MODE = "all"  # see the module docstring: "any" would let guide-eve in
AUTHORIZATION_FLOW_SLUG = "default-provider-authorization-implicit-consent"
INVALIDATION_FLOW_SLUG = "default-provider-invalidation-flow"
MANAGED_OPENID = "goauthentik.io/providers/oauth2/scope-openid"
MANAGED_EMAIL = "goauthentik.io/providers/oauth2/scope-email"
MANAGED_PROFILE = "goauthentik.io/providers/oauth2/scope-profile"
MANAGED_SCOPES = [MANAGED_OPENID, MANAGED_EMAIL]
DEFAULT_REDIRECT_URI = "http://127.0.0.1:18087/sso/oidc/conn_authentik/callback"

# The deliberately misconfigured variants (see the module docstring).
BROKEN_SLUG = "guide-broken"  # also the provider's name and client_id
BROKEN_NAME = "ChatGPT (broken)"
BROKEN_KEYPAIR_NAME = "guide-broken-signing"
HS256_SLUG = "guide-hs256"  # also the provider's name and client_id
HS256_NAME = "ChatGPT (no signing key)"
VARIANT_POLICY_ENGINE_MODE = "any"  # authentik's default

# username, name, email, in the group, is_active
USERS = [
    ("guide-ann", "Ann Guide", "ann.guide@example.com", True, True),
    ("guide-bob", "Bob Outside", "bob.outside@example.com", False, True),
    ("guide-cid", "Cid", "cid@example.com", True, True),
    ("guide-dee", "Dee Inactive", "dee@example.com", True, False),
    ("guide-eve", "Eve Other", "eve@other.org", True, True),
]

# application slug -> username -> (passing, a message that must be among the messages, or None)
EXPECTED_ACCESS = {
    APP_SLUG: {
        "guide-ann": (True, None),
        "guide-cid": (True, None),
        "guide-bob": (False, None),
        "guide-eve": (False, "ChatGPT is not for eve"),
    },
    # no bindings: everyone gets in
    BROKEN_SLUG: {
        "guide-ann": (True, None),
        "guide-cid": (True, None),
        "guide-bob": (True, None),
        "guide-eve": (True, None),
    },
    # the group binding only
    HS256_SLUG: {
        "guide-ann": (True, None),
        "guide-cid": (True, None),
        "guide-bob": (False, None),
        "guide-eve": (True, None),
    },
}

# The expressions end without a newline: authentik strips surrounding whitespace from them
# (DRF trim_whitespace), so a trailing newline would make every re-run "update" them.
POLICY_EXPRESSION = """\
if request.user.username == "guide-eve":
    ak_message("ChatGPT is not for eve")
    return False
return True"""

MAPPING_EXPRESSION = """\
name = request.user.name or ""
given_name, _, family_name = name.partition(" ")
return {
    "name": name,
    "given_name": given_name,
    "family_name": family_name,
    "preferred_username": request.user.username,
    "nickname": request.user.username,
}"""


class ApiError(Exception):
    def __init__(self, method: str, path: str, status: int, body: str):
        super().__init__(f"{method} {path} -> HTTP {status}: {body[:2000]}")
        self.status = status
        self.body = body


class Client:
    def __init__(self, base: str, token: str):
        self.base = base.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body=None, params=None):
        url = self.base + API + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                raw = resp.read().decode()
                return json.loads(raw) if raw.strip() else None
        except urllib.error.HTTPError as exc:
            raise ApiError(method, path, exc.code, exc.read().decode(errors="replace")) from None

    def get(self, path, params=None):
        return self.call("GET", path, params=params)

    def post(self, path, body, params=None):
        return self.call("POST", path, body=body, params=params)

    def patch(self, path, body):
        return self.call("PATCH", path, body=body)

    def delete(self, path) -> bool:
        """True when deleted, False when it was already gone."""
        try:
            self.call("DELETE", path)
            return True
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise

    def list_all(self, path, params=None):
        params = dict(params or {})
        params.setdefault("page_size", 100)
        page = 1
        while True:
            params["page"] = page
            answer = self.get(path.rstrip("/") + "/", params)
            yield from answer["results"]
            if not answer.get("pagination", {}).get("next"):
                return
            page += 1

    def find(self, path, field, value, params=None):
        """The one object of `path` whose `field` equals `value` (exact, checked here: a list
        filter that the endpoint does not know is silently ignored by authentik)."""
        hits = [o for o in self.list_all(path, params) if o.get(field) == value]
        if len(hits) > 1:
            raise SystemExit(f"{path}: {len(hits)} objects with {field}={value!r}")
        return hits[0] if hits else None


def say(kind: str, name: str, pk, state: str) -> None:
    print(f"{kind} {name} {pk} {state}", flush=True)


def changed(current: dict, wanted: dict) -> bool:
    for key, value in wanted.items():
        have = current.get(key)
        if isinstance(value, list) and isinstance(have, list):
            if sorted(json.dumps(v, sort_keys=True) for v in value) != sorted(
                json.dumps(v, sort_keys=True) for v in have
            ):
                return True
        elif have != value:
            return True
    return False


def upsert(api: Client, path, found, wanted, pk_key="pk"):
    """Create `wanted` at `path` when nothing was `found`, PATCH the found object when it differs,
    else reuse it. Returns the object and what was done: created, updated or reused."""
    if found is None:
        return api.post(path + "/", wanted), "created"
    if changed(found, wanted):
        return api.patch(f"{path}/{found[pk_key]}/", wanted), "updated"
    return found, "reused"


def ensure(api: Client, kind, path, field, value, wanted, pk_key="pk", search=None, label=None):
    """Find by field=value; create with `wanted` or PATCH the differing fields."""
    obj, state = upsert(api, path, api.find(path, field, value, {"search": search or value}), wanted, pk_key)
    say(kind, label or value, obj[pk_key], state)
    return obj


def password_for(username: str) -> str:
    short = username.removeprefix("guide-")
    return os.environ.get(f"GUIDE_{short.upper()}_PASSWORD", f"guide-{short}-password-1")


def ensure_keypair(api: Client, name: str, subject_alt_name: str, validity_days: int) -> dict:
    """Find the certificate-key pair by name, or have authentik generate it (RSA). An existing
    pair is reused as it is: a certificate cannot be changed in place."""
    keypair = api.find("/crypto/certificatekeypairs", "name", name, {"name": name})
    if keypair is None:
        keypair = api.post(
            "/crypto/certificatekeypairs/generate/",
            {
                "common_name": name,
                "subject_alt_name": subject_alt_name,
                "validity_days": validity_days,
                "alg": "rsa",
            },
        )
        say("certificate-key-pair", name, keypair["pk"], "created")
    else:
        say("certificate-key-pair", name, keypair["pk"], "reused")
    return keypair


def ensure_application(api: Client, wanted: dict) -> dict:
    """Find the application by its slug (in the path); create it or PATCH the differing fields."""
    slug = wanted["slug"]
    try:
        app = api.get(f"/core/applications/{slug}/")
    except ApiError as exc:
        if exc.status != 404:
            raise
        app = None
    app, state = upsert(api, "/core/applications", app, wanted, pk_key="slug")
    say("application", slug, app["pk"], state)
    return app


def ensure_bindings(api: Client, app: dict, slug: str, wanted_bindings) -> None:
    """Exactly `wanted_bindings` [(key, value, order, label)] on the application, nothing else:
    missing ones are created, differing ones reset, any other binding deleted."""
    existing = list(api.list_all("/policies/bindings", {"target": app["pk"]}))
    keep = set()
    for key, value, order, label in wanted_bindings:
        hit = next(
            (
                b
                for b in existing
                if b.get(key) == value and b["order"] == order and b["pk"] not in keep
            ),
            None,
        )
        body = {
            "target": app["pk"],
            key: value,
            "order": order,
            "enabled": True,
            "negate": False,
            "timeout": 30,
            "failure_result": False,
        }
        hit, state = upsert(api, "/policies/bindings", hit, body)
        keep.add(hit["pk"])
        say("policy-binding", f"{slug}#{order}->{label}", hit["pk"], state)
    for binding in existing:
        if binding["pk"] not in keep:
            api.delete(f"/policies/bindings/{binding['pk']}/")
            say("policy-binding", f"{slug}#{binding['order']}->stray", binding["pk"], "deleted")


def setup(api: Client) -> dict:
    group = ensure(api, "group", "/core/groups", "name", GROUP_NAME, {"name": GROUP_NAME})
    group_pk = group["pk"]

    users = {}
    for username, name, email, in_group, active in USERS:
        wanted = {
            "username": username,
            "name": name,
            "email": email,
            "type": "internal",
            "is_active": active,
            "groups": [group_pk] if in_group else [],
        }
        found = api.find("/core/users", "username", username, {"username": username})
        user, state = upsert(api, "/core/users", found, wanted)
        api.post(f"/core/users/{user['pk']}/set_password/", {"password": password_for(username)})
        say("user", username, user["pk"], state + "+password")
        users[username] = user

    policy = ensure(
        api,
        "policy",
        "/policies/expression",
        "name",
        POLICY_NAME,
        {"name": POLICY_NAME, "execution_logging": False, "expression": POLICY_EXPRESSION},
    )

    mapping = ensure(
        api,
        "scope-mapping",
        "/propertymappings/provider/scope",
        "name",
        MAPPING_NAME,
        {
            "name": MAPPING_NAME,
            "scope_name": "profile",
            "description": "General Profile Information (given_name and family_name split)",
            "expression": MAPPING_EXPRESSION,
        },
    )

    keypair = ensure_keypair(api, KEYPAIR_NAME, "guide-chatgpt.example.com", 365)

    flows = {}
    for slug in (AUTHORIZATION_FLOW_SLUG, INVALIDATION_FLOW_SLUG):
        flow = api.find("/flows/instances", "slug", slug, {"slug": slug})
        if flow is None:
            raise SystemExit(f"flow {slug} not found (are authentik's default blueprints applied?)")
        flows[slug] = flow["pk"]

    managed_pks = {}
    for managed in (MANAGED_OPENID, MANAGED_EMAIL, MANAGED_PROFILE):
        scope = api.find(
            "/propertymappings/provider/scope", "managed", managed, {"managed": managed}
        )
        if scope is None:
            raise SystemExit(f"managed scope mapping {managed} not found")
        managed_pks[managed] = scope["pk"]
    mapping_pks = [managed_pks[m] for m in MANAGED_SCOPES] + [mapping["pk"]]
    client_secret = os.environ.get("GUIDE_CLIENT_SECRET", "guide-client-secret-1")
    redirect_uri = os.environ.get("GUIDE_REDIRECT_URI", DEFAULT_REDIRECT_URI)

    provider = ensure(
        api,
        "oauth2-provider",
        "/providers/oauth2",
        "name",
        PROVIDER_NAME,
        {
            "name": PROVIDER_NAME,
            "authorization_flow": flows[AUTHORIZATION_FLOW_SLUG],
            "invalidation_flow": flows[INVALIDATION_FLOW_SLUG],
            "client_type": "confidential",
            "client_id": CLIENT_ID,
            "client_secret": client_secret,
            "redirect_uris": [{"matching_mode": "strict", "url": redirect_uri}],
            "signing_key": keypair["pk"],
            "property_mappings": mapping_pks,
        },
    )

    app = ensure_application(
        api,
        {
            "name": APP_NAME,
            "slug": APP_SLUG,
            "provider": provider["pk"],
            "policy_engine_mode": POLICY_ENGINE_MODE,
        },
    )
    # The bindings: exactly these two on the application, nothing else.
    ensure_bindings(
        api,
        app,
        APP_SLUG,
        [
            ("group", group_pk, 0, f"group:{GROUP_NAME}"),
            ("policy", policy["pk"], 1, f"policy:{POLICY_NAME}"),
        ],
    )

    # guide-broken: everything a reviewer should object to, on purpose.
    broken_keypair = ensure_keypair(api, BROKEN_KEYPAIR_NAME, "guide-broken.example.com", 10)
    broken_provider = ensure(
        api,
        "oauth2-provider",
        "/providers/oauth2",
        "name",
        BROKEN_SLUG,
        {
            "name": BROKEN_SLUG,
            "authorization_flow": flows[AUTHORIZATION_FLOW_SLUG],
            "invalidation_flow": flows[INVALIDATION_FLOW_SLUG],
            "client_type": "public",
            "client_id": BROKEN_SLUG,
            "redirect_uris": [{"matching_mode": "regex", "url": "https://.*"}],
            "signing_key": broken_keypair["pk"],
            "encryption_key": None,
            "property_mappings": [
                managed_pks[MANAGED_OPENID],
                managed_pks[MANAGED_EMAIL],
                managed_pks[MANAGED_PROFILE],
            ],
            "sub_mode": "user_email",
            "access_token_validity": "seconds=30",
            "include_claims_in_id_token": False,
        },
    )
    broken_app = ensure_application(
        api,
        {
            "name": BROKEN_NAME,
            "slug": BROKEN_SLUG,
            "provider": broken_provider["pk"],
            "policy_engine_mode": VARIANT_POLICY_ENGINE_MODE,
        },
    )
    ensure_bindings(api, broken_app, BROKEN_SLUG, [])  # none at all

    # guide-hs256: like guide-chatgpt, but no signing key (HS256), an encryption key, no email.
    hs256_provider = ensure(
        api,
        "oauth2-provider",
        "/providers/oauth2",
        "name",
        HS256_SLUG,
        {
            "name": HS256_SLUG,
            "authorization_flow": flows[AUTHORIZATION_FLOW_SLUG],
            "invalidation_flow": flows[INVALIDATION_FLOW_SLUG],
            "client_type": "confidential",
            "client_id": HS256_SLUG,
            "client_secret": client_secret,
            "redirect_uris": [{"matching_mode": "strict", "url": redirect_uri}],
            "signing_key": None,
            "encryption_key": keypair["pk"],
            "property_mappings": [managed_pks[MANAGED_OPENID], mapping["pk"]],
            "sub_mode": "hashed_user_id",
            "access_token_validity": "hours=1",
            "include_claims_in_id_token": True,
        },
    )
    hs256_app = ensure_application(
        api,
        {
            "name": HS256_NAME,
            "slug": HS256_SLUG,
            "provider": hs256_provider["pk"],
            "policy_engine_mode": VARIANT_POLICY_ENGINE_MODE,
        },
    )
    ensure_bindings(api, hs256_app, HS256_SLUG, [("group", group_pk, 0, f"group:{GROUP_NAME}")])

    return {"app": app, "users": users}


def check(api: Client, state: dict) -> bool:
    ok = True
    for slug, expected in EXPECTED_ACCESS.items():
        for username, (want_pass, want_msg) in expected.items():
            user = state["users"][username]
            answer = api.get(f"/core/applications/{slug}/check_access/", {"for_user": user["pk"]})
            passing = answer.get("passing")
            messages = answer.get("messages") or []
            good = passing is want_pass and (want_msg is None or want_msg in messages)
            ok = ok and good
            print(
                f"check-access {slug} {username} passing={passing} "
                f"messages={json.dumps(messages)} "
                f"{'ok' if good else 'UNEXPECTED (wanted passing=' + str(want_pass) + ')'}",
                flush=True,
            )
    return ok


def delete(api: Client) -> None:
    # Applications first (their bindings, then themselves), then what they use.
    for slug in (BROKEN_SLUG, HS256_SLUG, APP_SLUG):
        app = None
        try:
            app = api.get(f"/core/applications/{slug}/")
        except ApiError as exc:
            if exc.status != 404:
                raise
        if app is not None:
            for binding in api.list_all("/policies/bindings", {"target": app["pk"]}):
                api.delete(f"/policies/bindings/{binding['pk']}/")
                say("policy-binding", f"{slug}#{binding['order']}", binding["pk"], "deleted")
            api.delete(f"/core/applications/{slug}/")
            say("application", slug, app["pk"], "deleted")
        else:
            say("application", slug, "-", "absent")

    def drop(kind, path, field, value, params):
        obj = api.find(path, field, value, params)
        if obj is None:
            say(kind, value, "-", "absent")
            return
        gone = api.delete(f"{path}/{obj['pk']}/")
        say(kind, value, obj["pk"], "deleted" if gone else "absent")

    # The providers before the key pairs they sign or encrypt with and the mappings they use.
    for name in (BROKEN_SLUG, HS256_SLUG, PROVIDER_NAME):
        drop("oauth2-provider", "/providers/oauth2", "name", name, {"search": name})
    for name in (BROKEN_KEYPAIR_NAME, KEYPAIR_NAME):
        drop("certificate-key-pair", "/crypto/certificatekeypairs", "name", name, {"name": name})
    drop(
        "scope-mapping",
        "/propertymappings/provider/scope",
        "name",
        MAPPING_NAME,
        {"search": MAPPING_NAME},
    )
    drop("policy", "/policies/expression", "name", POLICY_NAME, {"search": POLICY_NAME})
    for username, *_ in USERS:
        drop("user", "/core/users", "username", username, {"username": username})
    drop("group", "/core/groups", "name", GROUP_NAME, {"search": GROUP_NAME})


def main(argv: list[str]) -> int:
    flags = {a for a in argv[1:] if a.startswith("--")}
    args = [a for a in argv[1:] if not a.startswith("--")]
    unknown = flags - {"--delete", "--no-check", "--help"}
    if "--help" in flags or unknown or len(args) > 1:
        print(__doc__, file=sys.stderr)
        return 0 if "--help" in flags and not unknown else 2
    base = args[0] if args else "http://127.0.0.1:9000"
    token = os.environ.get("AK_E2E_AUTHENTIK_TOKEN")
    if not token:
        print("guide-app.py: set AK_E2E_AUTHENTIK_TOKEN to an authentik API token", file=sys.stderr)
        return 2
    api = Client(base, token)
    try:
        if "--delete" in flags:
            delete(api)
            return 0
        state = setup(api)
        if "--no-check" in flags:
            return 0
        return 0 if check(api, state) else 1
    except ApiError as exc:
        print(f"guide-app.py: {exc}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"guide-app.py: cannot reach {base}: {exc.reason}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
