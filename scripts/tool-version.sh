# Sourced by the install-*.sh scripts: whether a built tool is already the wanted version, and its version line.
# The output is read whole before it is searched: `--version | grep -q` or `| head` would close the pipe
# early, and under pipefail the SIGPIPE that kills the writer fails the script.

# tool_has_version BINARY TEXT: true when BINARY exists and its --version output contains TEXT.
tool_has_version() {
  [ -x "$1" ] && [[ "$("$1" --version 2>/dev/null)" == *"$2"* ]]
}

# print_tool_version BINARY: the first line of its --version output.
print_tool_version() {
  local output
  output=$("$1" --version)
  echo "${output%%$'\n'*}"
}
