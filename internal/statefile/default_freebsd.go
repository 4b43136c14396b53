package statefile

// stateDir is where the system keeps daemons' state: hier(7).
const stateDir = "/var/db/imdsd"
