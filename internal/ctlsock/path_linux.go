package ctlsock

const runDir = "/run"
