package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"github.com/imdsd/imdsd/internal/cli"
	"github.com/imdsd/imdsd/internal/ctlsock"
	"github.com/imdsd/imdsd/internal/detach"
	"github.com/imdsd/imdsd/internal/listen"
	"github.com/imdsd/imdsd/internal/logging"
	"github.com/imdsd/imdsd/internal/privdrop"
	"github.com/imdsd/imdsd/internal/service"
	"github.com/imdsd/imdsd/internal/statefile"
	"github.com/imdsd/imdsd/internal/token"
	"github.com/imdsd/imdsd/pkg/config"
	"github.com/imdsd/imdsd/pkg/server"
)

// readyTimeout bounds how long "imdsd -d" waits for its child to serve.
const readyTimeout = 30 * time.Second

// accessLogFlag is --access-log; --no-access-log sets it too, and the
// last of them wins.
type accessLogFlag struct{ level server.AccessLogLevel }

func (f *accessLogFlag) String() string { return f.level.String() }
func (f *accessLogFlag) Set(v string) (err error) {
	f.level, err = server.ParseAccessLogLevel(v)
	return err
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	config     string
	host       string
	port       int
	listen     listFlag
	testConfig bool
	version    bool
	help       bool
	accessLog  accessLogFlag
	daemon     bool
	pidfile    string
	user       string
	logTo      string
	facility   string
	tag        string
	admin      string
	control    string
	ctlGroup   string
	ctlGiven   bool // --control was given: failing to create it is fatal
}

const usage = `usage: imdsd [-d] [-c file] [--host addr] [--port port] [-l addr:port]...
             [-p pidfile] [-u user] [--log dest] [--log-facility facility]
             [--log-tag tag] [--access-log all|errors|none] [--admin addr]
             [--control path|none] [--control-group group]
       imdsd -t [-c file]
       imdsd --version

  -c, --config file      read the configuration from file
                         (default: the built-in example configuration)
      --host addr        listen on addr (default 169.254.169.254)
      --port port        listen on port (default 80)
  -l, --listen addr:port listen on addr:port; repeatable; replaces --host/--port
  -t, --test-config      check the configuration, print problems and exit
  -d, --daemon           detach; return once serving, writing --pidfile
  -p, --pidfile file     pidfile for --daemon (default /var/run/imdsd.pid)
  -u, --user user        after binding, run as user and its group
      --log dest         auto, stderr, syslog or syslog:NETWORK:ADDRESS
                         (default auto: stderr on a terminal, else syslog)
      --log-facility f   syslog facility (default daemon)
      --log-tag tag      syslog tag (default imdsd)
      --access-log what  which requests to log: all, errors (the default:
                         refusals and unknown clients, repeats summarised)
                         or none
      --no-access-log    the same as --access-log none
      --admin addr       serve /healthz and /metrics on addr:port or
                         unix:/path (loopback or a socket only)
      --control path     the control socket for imdsctl, or none (default
                         /var/run/imdsd/control.sock; under systemd, in
                         $RUNTIME_DIRECTORY)
      --control-group g  make the control socket mode 0660 for group g
      --version          print the version and exit
  -h, --help             print this help and exit

See imdsd(8) and imdsd.conf(5).
`

func parseFlags(args []string, stdout, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("imdsd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	str := func(p *string, def string, names ...string) { cli.String(fs, p, def, names...) }
	boolean := func(p *bool, names ...string) { cli.Bool(fs, p, false, names...) }
	str(&o.config, "", "config", "c")
	str(&o.host, "169.254.169.254", "host")
	fs.IntVar(&o.port, "port", 80, "")
	cli.Var(fs, &o.listen, "listen", "l")
	boolean(&o.testConfig, "test-config", "t")
	boolean(&o.daemon, "daemon", "d")
	str(&o.pidfile, "/var/run/imdsd.pid", "pidfile", "p")
	str(&o.user, "", "user", "u")
	str(&o.logTo, "auto", "log")
	str(&o.facility, "daemon", "log-facility")
	str(&o.tag, "imdsd", "log-tag")
	o.accessLog.level = server.AccessLogErrors
	fs.Var(&o.accessLog, "access-log", "")
	fs.BoolFunc("no-access-log", "", func(string) error { o.accessLog.level = server.AccessLogNone; return nil })
	str(&o.admin, "", "admin")
	str(&o.control, "", "control")
	str(&o.ctlGroup, "", "control-group")
	boolean(&o.version, "version")
	boolean(&o.help, "help", "h")

	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return nil, cli.Silent(cli.ExitOK)
		}
		fmt.Fprint(stderr, usage)
		return nil, cli.Usagef("%v", err)
	}
	if o.help {
		fmt.Fprint(stdout, usage)
		return nil, cli.Silent(cli.ExitOK)
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stderr, usage)
		return nil, cli.Usagef("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { o.ctlGiven = o.ctlGiven || f.Name == "control" })
	if o.control == "" {
		o.control = ctlsock.DefaultPath(os.Getenv)
	}
	if o.port < 0 || o.port > 65535 {
		return nil, cli.Usagef("--port %d: not a TCP port (0 to 65535)", o.port)
	}
	if len(o.listen) == 0 {
		o.listen = listFlag{net.JoinHostPort(o.host, strconv.Itoa(o.port))}
	}
	for _, a := range o.listen {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, cli.Usagef("--listen %s: expected ADDR:PORT, such as 169.254.169.254:80 or [fd00:ec2::254]:80", a)
		}
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stdout, stderr)
	if err != nil {
		return err
	}
	if o.version {
		fmt.Fprintln(stdout, "imdsd", version)
		return nil
	}
	if detach.IsChild() {
		return runChild(ctx, o)
	}

	cfg, diags, err := config.Load(o.config)
	for _, d := range diags {
		fmt.Fprintf(stderr, "%s: %s\n", d.Severity, d)
	}
	if err != nil {
		return cli.Silent(cli.ExitFailure)
	}
	if o.testConfig {
		if n := len(cfg.Entries()); n == 1 {
			fmt.Fprintf(stdout, "%s: configuration OK (1 guest)\n", nameOr(o.config))
		} else if n > 1 {
			fmt.Fprintf(stdout, "%s: configuration OK (%d guests)\n", nameOr(o.config), n)
		} else {
			fmt.Fprintf(stdout, "%s: configuration OK\n", nameOr(o.config))
		}
		return nil
	}
	if o.daemon {
		if os.Getenv("LISTEN_FDS") != "" || os.Getenv("NOTIFY_SOCKET") != "" {
			return cli.Usagef("--daemon is for rc.d; under systemd run imdsd in the foreground (Type=notify)")
		}
		if o.user != "" { // fail here, on the terminal, rather than in the child
			if _, _, err := privdrop.Lookup(o.user); err != nil {
				return err
			}
		}
		return detach.Start(o.pidfile, readyTimeout)
	}
	return serve(ctx, o, cfg, nil, stderr, nil)
}

// runChild is the detached process of --daemon: it reports to the waiting
// parent why it could not start, since its stderr goes nowhere.
func runChild(ctx context.Context, o *options) error {
	// Relative paths are the parent's: resolve them before moving to "/".
	if o.config != "" {
		o.config, _ = filepath.Abs(o.config)
	}
	if path, ok := strings.CutPrefix(o.admin, "unix:"); ok {
		abs, _ := filepath.Abs(path)
		o.admin = "unix:" + abs
	}
	if o.control != ctlsock.Off {
		o.control, _ = filepath.Abs(o.control)
	}
	child, err := detach.Reborn(o.pidfile)
	if err != nil {
		detach.Fail(err)
		return err
	}
	defer child.Release()
	cfg, diags, err := config.Load(o.config)
	if err == nil {
		err = serve(ctx, o, cfg, diags, io.Discard, child)
	}
	if err != nil {
		detach.Fail(err)
	}
	return err
}

// serve sets up logging, binds, drops privileges and runs the service.
func serve(ctx context.Context, o *options, cfg *config.Config, warns config.ErrorList, stderr io.Writer, child *detach.Child) error {
	log, closeLog, fallback, err := logging.New(logging.Options{
		Dest: o.logTo, Facility: o.facility, Tag: o.tag,
		Interactive: isTerminal(stderr), Stderr: stderr,
	})
	if err != nil {
		return cli.Usagef("%v", err)
	}
	defer closeLog()
	if fallback != "" {
		if child != nil {
			// Detached, stderr goes nowhere: a daemon with no log at all
			// would hide every reload error.
			return fmt.Errorf("no syslog socket to log to (%s); start syslogd, or name one with --log syslog:unixgram:/path, or run imdsd in the foreground", fallback)
		}
		log.Warn("no syslog, logging to stderr", "reason", fallback)
	}
	for _, w := range warns.Warnings() { // the foreground printed them already
		log.Warn("config warning", "warning", w.Error())
	}

	uid, gid := -1, -1
	if o.user != "" {
		if uid, gid, err = privdrop.Lookup(o.user); err != nil {
			return err
		}
	}

	// The state file is read before binding: one imdsd cannot use is
	// never overwritten, and the daemon does not start.
	stateFile, err := stateFilePath(cfg, log)
	if err != nil {
		return err
	}

	lns, err := listen.Activated()
	if err != nil {
		return err
	}
	activated := len(lns) > 0
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	if activated {
		log.Log(ctx, logging.LevelNotice, "socket activation: serving the sockets systemd passed; --host, --port and --listen are ignored", "sockets", len(lns))
	} else {
		for _, addr := range o.listen {
			ln, local, err := listen.TCP(ctx, addr)
			if err != nil {
				return err
			}
			if !local {
				host, _, _ := net.SplitHostPort(addr)
				freebsd, linux := listen.AddCommands(host)
				log.Warn("listening on an address not configured on this host yet; guests reach it once it is added",
					"addr", addr, "freebsd", freebsd, "linux", linux)
			}
			lns = append(lns, ln)
		}
	}

	var admin net.Listener
	if o.admin != "" {
		if admin, err = listenAdmin(o.admin, uid, gid); err != nil {
			return err
		}
		defer admin.Close()
	}
	var ctl *ctlsock.Listener
	if o.control != ctlsock.Off {
		ctl, err = ctlsock.Listen(o.control, ctlsock.Options{Group: o.ctlGroup})
		switch {
		case err == nil:
			defer ctl.Close()
		case o.ctlGiven || o.ctlGroup != "" || errors.Is(err, ctlsock.ErrLive):
			return err
		default:
			log.Warn("no control socket: imdsctl cannot reach this imdsd; give --control PATH, or --control none to say so", "err", err)
		}
	}

	srvOpts := server.Options{Logger: log, Version: version, StateFile: stateFile}
	if cfg.TokenKeyFile != "" { // read before privileges are dropped
		key, err := token.LoadKeyFile(cfg.TokenKeyFile)
		if err != nil {
			return err
		}
		if srvOpts.Sealer, err = token.New(key); err != nil {
			return err
		}
	}
	if o.accessLog.level != server.AccessLogNone {
		srvOpts.AccessLog = log
		srvOpts.AccessLogLevel = o.accessLog.level
		srvOpts.AccessLogBuffer = server.DefaultAccessLogBuffer
	}
	if uid >= 0 {
		if child != nil {
			if err := child.Chown(uid, gid); err != nil {
				log.Warn("cannot hand the pidfile to the unprivileged user; it will stay behind on exit", "err", err)
			}
		}
		if err := privdrop.To(uid, gid); err != nil {
			return err
		}
		log.Log(ctx, logging.LevelNotice, "dropped privileges", "user", o.user, "uid", uid, "gid", gid)
		if ul, ok := admin.(*ctlsock.Listener); ok {
			if err := ul.Removable(); err != nil {
				log.Warn("the admin socket will stay behind on exit (the next start replaces it); put it in a directory the user owns", "err", err)
			}
		}
		if srvOpts.StateFile != "" && cfg.StateFile == "" {
			// The default state directory may be root's: then this user
			// cannot keep the runtime state there, but imdsd still serves.
			if err := unix.Access(filepath.Dir(srvOpts.StateFile), unix.W_OK|unix.X_OK); err != nil {
				log.Warn("the state directory is not writable by this user: what imdsctl changes is lost at exit; give it to the user, or set state_file",
					"state_file", srvOpts.StateFile, "user", o.user, "err", err)
				srvOpts.StateFile = ""
			}
		}
		if ctl != nil {
			if err := ctl.Removable(); err != nil {
				log.Warn("the control socket will stay behind on exit (the next start replaces it); put it in a directory the user owns", "err", err)
			}
		}
	}

	notify := func(state string) {
		_, _ = daemon.SdNotify(false, state)
		if child != nil && state == daemon.SdNotifyReady {
			os.Unsetenv("NOTIFY_SOCKET") // the parent has gone; later states are for nobody
		}
	}
	watchdog, _ := daemon.SdWatchdogEnabled(true)

	started := []any{"version", version, "config", nameOr(o.config), "guests", len(cfg.Entries()), "pid", os.Getpid()}
	if rl := cfg.RateLimit; rl != nil && rl.RequestsPerSecond > 0 && !rl.Loopback {
		started = append(started, "rate_limit", "off for loopback clients (rate_limit.loopback: true includes them)")
	}
	log.Log(ctx, logging.LevelNotice, "starting", started...)
	return service.Run(ctx, service.Options{
		ConfigPath: o.config,
		Config:     cfg,
		Listeners:  lns,
		Server:     srvOpts,
		Logger:     log,
		Notify:     notify,
		Watchdog:   watchdog,
		Admin:      admin,
		Control:    controlListener(ctl),
	})
}

// controlListener is ln as a net.Listener: nil when there is none.
func controlListener(ln *ctlsock.Listener) net.Listener {
	if ln == nil {
		return nil
	}
	return ln
}

// stateFilePath returns the state file to use ("" for none) after
// checking that it can be read. state_file "none" keeps nothing; the
// default one is used when its directory exists (rc.d and systemd make it),
// else runtime changes are kept in memory, and the log says so.
func stateFilePath(cfg *config.Config, log *slog.Logger) (string, error) {
	path := cfg.StateFile
	switch path {
	case config.StateFileNone:
		return "", nil
	case "":
		path = statefile.DefaultPath(os.Getenv)
		if _, err := os.Stat(filepath.Dir(path)); err != nil {
			// rc.d and systemd make the directory: without it this is a
			// development run (make run), told once, not warned.
			log.Info("no state directory: what imdsctl changes is kept in memory only; create it (mode 0700, owned by the user imdsd runs as), or set state_file", "state_file", path, "err", err)
			return "", nil
		}
	}
	if _, _, err := statefile.Open(path); err != nil {
		return "", err
	}
	return path, nil
}

func nameOr(path string) string {
	if path == "" {
		return config.DefaultName
	}
	return path
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// listenAdmin opens the admin listener: "unix:/path" (mode 0600 whatever
// the umask, owned by uid and gid when uid >= 0, removed on exit; a stale
// socket file is replaced) or "addr:port".
func listenAdmin(addr string, uid, gid int) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		var owner *ctlsock.Owner
		if uid >= 0 {
			owner = &ctlsock.Owner{UID: uid, GID: gid}
		}
		ln, err := ctlsock.Listen(path, ctlsock.Options{Owner: owner, What: "admin socket", Flag: "--admin"})
		if err != nil {
			return nil, fmt.Errorf("--admin %s: %w", addr, err)
		}
		return ln, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, cli.Usagef("--admin %s: expected ADDR:PORT on a loopback address, such as 127.0.0.1:9116, or unix:/path", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		// /metrics names every guest's instance id: keep it from the guests.
		return nil, cli.Usagef("--admin %s: serve it on a loopback address (127.0.0.1, ::1) or a Unix socket, never where guests can reach it", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--admin %s: %w", addr, listen.Explain(addr, err))
	}
	return ln, nil
}
