# Sourced by the scripts: puts cargo and the pinned bun on PATH.
[ -d "$HOME/.cargo/bin" ] && PATH="$HOME/.cargo/bin:$PATH"
PATH="$PWD/node_modules/.bin:$PATH"
export PATH
