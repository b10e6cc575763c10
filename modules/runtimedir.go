package modules

// setRuntimeDir gives a session without XDG_RUNTIME_DIR the user's
// runtime directory, where systemd --user and its journal live.
const setRuntimeDir = `XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}"`
