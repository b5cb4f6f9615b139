#!/usr/bin/env bash
# The real lane's second part: an admin's own ChatGPT application, made through authentik's API
# the way a reader of the integration guide makes it (scripts/lib/guide-app.py, not the project's
# blueprints), checked by `doctor`, signed in to through twins, and its users reproduced.
# Called by scripts/real-lane with the lane's environment (AK_E2E_TARGET, AK_E2E_AUTHENTIK_TOKEN,
# AK_E2E_CONFIG, the secrets). Every expectation below is a verdict or a line that must appear;
# the first one that does not holds the lane. Outputs go to target/real-lane/own-app/.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=target/debug/ak-e2e
out=target/real-lane/own-app
mkdir -p "$out"
failures=0

command -v python3 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3 >/dev/null; }
python3 scripts/lib/guide-app.py "$AK_E2E_TARGET" >"$out/guide-app.log" 2>&1 || {
  cat "$out/guide-app.log" >&2
  echo "own-app lane: scripts/lib/guide-app.py could not set up the guide's applications" >&2
  exit 3
}

# expect NAME CODE COMMAND…: runs it into $out/NAME.txt and checks its exit code.
expect() {
  local name=$1 want=$2
  shift 2
  local got=0
  CI=true "$@" >"$out/$name.txt" 2>&1 || got=$?
  if [ "$got" != "$want" ]; then
    echo "own-app lane: $name exited $got, expected $want ($out/$name.txt):" >&2
    tail -30 "$out/$name.txt" >&2
    failures=$((failures + 1))
  else
    echo "own-app lane: $name: exit $got as expected"
  fi
}

# says NAME TEXT…: each TEXT appears in $out/NAME.txt.
says() {
  local name=$1
  shift
  for text in "$@"; do
    if ! grep -qF -- "$text" "$out/$name.txt"; then
      echo "own-app lane: $name does not say: $text ($out/$name.txt)" >&2
      failures=$((failures + 1))
    fi
  done
}

doctor() { "$bin" doctor --target "$AK_E2E_TARGET" "$@"; }
reproduce() { "$bin" reproduce --target "$AK_E2E_TARGET" --application guide-chatgpt --user "$@"; }

# doctor: no false alarm on the correct application, each misconfiguration named.
expect doctor-correct 0 doctor --application guide-chatgpt --user guide-ann
says doctor-correct "ak-e2e: 0 error(s), 0 warning(s)"
expect doctor-users 4 doctor --application guide-chatgpt --json "$out/doctor-users.json" \
  --user guide-bob --user guide-cid --user guide-dee --user guide-eve
says doctor-users "denies them (no policy gave a message)" "--> user guide-bob" \
  "error: claim family_name: empty in the claims authentik would send" "error: Is active: off" \
  'the policies said: "ChatGPT is not for eve"' "eve@other.org is not at a domain ChatGPT has verified"
expect doctor-broken 4 doctor --application guide-broken
says doctor-broken "error: Client type: \`public\`" "open redirect" \
  "the ID token will have no \`family_name\`: authentik's default \`profile\` mapping" \
  "error: Include claims in id_token: off" "warning: Signing Key: the certificate of \`guide-broken-signing\` expires on" \
  "warning: Subject mode: \`user_email\`" "warning: Access token validity" "warning: Policy / Group / User Bindings: none enabled"
expect doctor-hs256 4 doctor --application guide-hs256
says doctor-hs256 "error: Signing Key: none: authentik signs ID tokens with HS256" \
  "no mapping serves the scope \`email\`" "error: Encryption Key"

# Twins: the suite's own users through a twin of the reference application.
expect twin-run 0 "$bin" run --application chatgpt --driver both \
  scenarios/chatgpt/login.yaml scenarios/chatgpt/unbound-user.yaml scenarios/chatgpt/totp.yaml
says twin-run "a twin of application \`chatgpt\`" "ak-e2e: deleted the twin provider ak-e2e-twin-"

# reproduce through a twin of the guide's application: the verdict a real login would get, and why.
expect reproduce-ann 0 reproduce guide-ann
expect reproduce-bob 4 reproduce guide-bob
says reproduce-bob 'now at authentik page "Permission denied"' "denies them (no policy gave a message)"
expect reproduce-cid 4 reproduce guide-cid
says reproduce-cid "missing_claim_family_name" "error: claim family_name: empty"
expect reproduce-dee 4 reproduce guide-dee
says reproduce-dee "inactive like them" "error: Is active: off"
expect reproduce-eve 4 reproduce guide-eve
says reproduce-eve "email_domain_not_verified" 'the policies said: "ChatGPT is not for eve"'

# reproduce of the fixture users with a passkey and with recovery codes (the project's application):
# each copy gets a device of its own through authentik's setup flow and signs in with it in the
# browser; copy and devices are gone afterwards.
expect reproduce-pia 0 "$bin" reproduce --target "$AK_E2E_TARGET" --user ak-e2e-pia
says reproduce-pia "MFA a passkey" "ak-e2e: deleted the throwaway user ak-e2e-repro-"
expect reproduce-rex 0 "$bin" reproduce --target "$AK_E2E_TARGET" --user ak-e2e-rex
says reproduce-rex "MFA recovery codes" "ak-e2e: deleted the throwaway user ak-e2e-repro-"

# SIGKILL mid-run leaves a twin; the next run sweeps it and says so.
CI=true "$bin" run --application chatgpt --driver browser scenarios/chatgpt/login.yaml >"$out/killed.txt" 2>&1 &
killed=$!
for _ in $(seq 1 600); do
  grep -q "made ak-e2e-twin-" "$out/killed.txt" && break
  kill -0 "$killed" 2>/dev/null || break
  sleep 0.1
done
kill -KILL "$killed" 2>/dev/null || true
wait "$killed" 2>/dev/null || true
expect sweep 0 "$bin" run --application chatgpt scenarios/chatgpt/outside-domain.yaml
says sweep "ak-e2e: swept the twin application ak-e2e-twin-" "which is gone"

# Nothing of ak-e2e's is left in authentik.
left=$(python3 - "$AK_E2E_TARGET" <<'EOF'
import json, os, sys, urllib.request
base = sys.argv[1].rstrip("/")
found = []
for path in ("core/users/?search=ak-e2e-repro-", "core/applications/?search=ak-e2e-twin-&superuser_full_list=true",
             "providers/oauth2/?search=ak-e2e-twin-"):
    req = urllib.request.Request(f"{base}/api/v3/{path}",
                                 headers={"Authorization": "Bearer " + os.environ["AK_E2E_AUTHENTIK_TOKEN"]})
    for o in json.load(urllib.request.urlopen(req, timeout=30))["results"]:
        found.append(o.get("username") or o.get("slug") or o.get("name"))
print(" ".join(found))
EOF
)
if [ -n "$left" ]; then
  echo "own-app lane: left in authentik: $left" >&2
  failures=$((failures + 1))
fi

if [ "$failures" -gt 0 ]; then
  echo "own-app lane: $failures expectation(s) not met" >&2
  exit 4
fi
echo "own-app lane: every expectation met; outputs in $out"
