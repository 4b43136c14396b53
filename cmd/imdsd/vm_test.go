//go:build vmtest && linux

package main

// TestVM (issue 15, make vm-test): a real Debian guest boots under QEMU and
// configures itself from imdsd with cloud-init, the way a guest on a bhyve
// or KVM host does.
//
//	namespace imdsV<pid>-<n>:
//	  br0 10.77.0.1/24 + 169.254.169.254/32, imdsd on 169.254.169.254:80,
//	  dnsmasq (DHCP only) on br0
//	  tap0 in br0 ── qemu-system-x86_64 ── guest eth0, 10.77.0.21 by DHCP
//
// The guest is told it is on EC2 the way a host admin would: by SMBIOS
// (system UUID and serial number both "ec2…"), so that cloud-init's own
// ds-identify picks the Ec2 datasource. A second boot is the documented
// recipe for guests without SMBIOS: "datasource_list: [ Ec2 ]" in the
// image and http_tokens optional. The namespace has no link but the
// bridge, so the guest reaches nothing but imdsd, dnsmasq and the test's
// ssh.
//
// The guest is a spot instance. Its runcmd leaves getimds --wait
// meta-data/spot/instance-action running; once cloud-init has finished,
// the host issues a terminate notice by reloading imdsd with a
// spot_interruption (imdsctl spot can do it once imdsd has its control
// socket), and the guest must report EC2's body.
//
// Build tag vmtest: make vm-test runs it, make test does not. It needs
// root and bin/imdsd and bin/getimds from make build. Environment:
//
//	IMDSD_VM_FAULT         a force_status object for imdsd, such as
//	                       '{"api/token":404}': the test must then fail,
//	                       naming what the guest did not get
//	IMDSD_VM_BOOT_TIMEOUT  how long a boot may take (a Go duration); the
//	                       default is 25m without KVM, 5m with it
//	IMDSD_VM_CACHE         where guest images are kept (vm_image_test.go)
//	IMDSD_VM_MIRROR        a Debian mirror instead of this machine's
//	IMDSD_VM_LOGS          where serial, imdsd and dnsmasq logs are kept;
//	                       the default is build/vm-logs

import (
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"github.com/imdsd/imdsd/internal/testbin"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	vmBridgeIP = "10.77.0.1"
	vmGuestIP  = "10.77.0.21"
	vmGuestMAC = "52:54:00:77:00:21"
	vmUser     = "debian" // Debian cloud-init's default user
	vmNSPrefix = "imdsV"
	// vmMarker starts each line the guest's runcmd writes to the serial
	// console for the test.
	vmMarker = "IMDSVM "
)

// vmRecipe is one way of telling a guest it is on EC2, as imdsd(8)
// documents it.
type vmRecipe struct {
	name       string
	smbios     bool   // system UUID and serial number "ec2…"
	dsList     bool   // "datasource_list: [ Ec2 ]" in the image
	tokens     string // imdsd's http_tokens
	datasource string // what cloud-init must end on
	hostname   string
	instanceID string
}

var vmRecipes = []vmRecipe{
	{
		name: "smbios-uuid-serial-tokens-required", smbios: true, tokens: "required",
		datasource: "DataSourceEc2Local", hostname: "imdsvm-smbios", instanceID: "i-0e2c0ffee0000a001",
	},
	{
		name: "no-smbios-datasource-list-tokens-optional", dsList: true, tokens: "optional",
		datasource: "DataSourceEc2", hostname: "imdsvm-plain", instanceID: "i-0e2c0ffee0000b002",
	},
}

// vmSMBIOSUUID is the guest's SMBIOS system UUID and serial number in the
// first recipe: cloud-init 22.4 identifies AWS only when both start with
// "ec2" and are equal.
const vmSMBIOSUUID = "ec2e1916-9e5a-4b6e-8f5c-1d2a3b4c5d6e"

// vmReaper stops what the test started when the test process is
// interrupted (SIGINT, SIGTERM), when t.Cleanup would not run: every stop
// function is registered with both and runs once.
type vmReaper struct {
	mu    sync.Mutex
	stops []func()
}

func newVMReaper(t *testing.T) *vmReaper {
	r := &vmReaper{}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			fmt.Fprintf(os.Stderr, "vm test: %v: stopping qemu, dnsmasq and imdsd and removing the namespaces\n", sig)
			r.mu.Lock()
			stops := r.stops
			r.mu.Unlock()
			for i := len(stops) - 1; i >= 0; i-- {
				stops[i]()
			}
			os.Exit(1)
		case <-done:
		}
	}()
	t.Cleanup(func() {
		signal.Stop(ch)
		close(done)
	})
	return r
}

// add registers stop for an interrupt and for the end of the test.
func (r *vmReaper) add(t *testing.T, stop func()) {
	once := sync.OnceFunc(stop)
	r.mu.Lock()
	r.stops = append(r.stops, once)
	r.mu.Unlock()
	t.Cleanup(once)
}

// vmProc is one process the test runs in the guest's namespace.
type vmProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// vmStart runs argv in namespace ns with its output to out, and stops it
// (SIGTERM, then SIGKILL, by PID) when the test ends or is interrupted.
func vmStart(t *testing.T, r *vmReaper, name, ns string, out io.Writer, argv ...string) *vmProc {
	t.Helper()
	p := &vmProc{
		name: name,
		// ip netns exec execs the command itself: the PID is its own.
		cmd:  exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...),
		done: make(chan struct{}),
	}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	// If the test process dies, so does the child. The kernel sends
	// Pdeathsig when the thread that forked exits, so that thread stays
	// locked to the goroutine that waits.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := p.cmd.Start()
		started <- err
		if err == nil {
			p.err = p.cmd.Wait()
		}
		close(p.done)
	}()
	if err := <-started; err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	r.add(t, func() { p.stop() })
	return p
}

// stop ends the process by its PID and waits for it.
func (p *vmProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(5 * time.Second):
	}
	p.cmd.Process.Kill()
	<-p.done
}

// exited reports whether the process has ended.
func (p *vmProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// vmKVM reports whether /dev/kvm can be used: it opens and answers
// KVM_GET_API_VERSION with 12, the only version there is.
func vmKVM() (bool, string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false, err.Error()
	}
	defer f.Close()
	const kvmGetAPIVersion = 0xAE00
	v, err := unix.IoctlRetInt(int(f.Fd()), kvmGetAPIVersion)
	if err != nil || v != 12 {
		return false, fmt.Sprintf("/dev/kvm answers KVM_GET_API_VERSION with %d, %v", v, err)
	}
	return true, "/dev/kvm works"
}

// vmRemoveLeftovers deletes namespaces of earlier runs whose test process
// is gone (a run killed with SIGKILL cannot clean up).
func vmRemoveLeftovers(t *testing.T) {
	out, err := nsRun("ip", "netns", "list")
	if err != nil {
		return
	}
	re := regexp.MustCompile(`^` + vmNSPrefix + `(\d+)-\d+$`)
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		m := re.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); pid != os.Getpid() && !alive(pid) {
			t.Logf("removing the namespace %s left by an earlier run", f[0])
			nsRun("ip", "netns", "del", f[0])
		}
	}
}

// vmStaticBinary fails the test unless path is a statically linked ELF
// executable, which runs in any guest.
func vmStaticBinary(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		unavailable(t, "%s: %v (run make build first)", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s is dynamically linked; the guest needs the static build (CGO_ENABLED=0, make build)", path)
		}
	}
}

// vmBoot is one booted guest with everything around it.
type vmBoot struct {
	recipe  vmRecipe
	ns      string
	logs    string // directory of the logs kept
	serial  string // the serial log file
	dnsmasq *testbin.Output
	imdsd   *nsDaemon
	qemu    *vmProc
	key     string // private key file
	pubKey  string
	started time.Time
	lease   time.Duration // boot to DHCP lease
	final   time.Duration // boot to "cloud-init ... finished"
	sshUp   time.Duration // boot to the first ssh that worked
	spot    time.Duration // spot notice issued to the guest's report of it
	finish  string        // cloud-init's final message
	fault   map[string]any
	config  string         // imdsd's configuration file
	doc     map[string]any // what it holds, for a reload
}

func TestVM(t *testing.T) {
	needRoot(t, "booting a guest on a tap in a network namespace (run make vm-test as root)")
	for _, tool := range []string{"ip", "debootstrap", "mkfs.ext4", "debugfs", "qemu-system-x86_64", "dnsmasq", "ssh", "ssh-keygen"} {
		need(t, tool)
	}
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	imdsd := filepath.Join(repo, "bin", "imdsd")
	getimds := filepath.Join(repo, "bin", "getimds")
	vmStaticBinary(t, imdsd)
	vmStaticBinary(t, getimds)

	var fault map[string]any
	if s := os.Getenv("IMDSD_VM_FAULT"); s != "" {
		if err := json.Unmarshal([]byte(s), &fault); err != nil {
			t.Fatalf("IMDSD_VM_FAULT=%s: not a JSON object of path to status, such as {\"api/token\":404}: %v", s, err)
		}
		t.Logf("IMDSD_VM_FAULT: imdsd gets force_status %s; this run must fail", s)
	}

	r := newVMReaper(t)
	vmRemoveLeftovers(t)
	img := vmImageFor(t, r)

	kvm, why := vmKVM()
	bootTimeout := 25 * time.Minute
	accel := "tcg (software emulation: " + why + ")"
	if kvm {
		bootTimeout, accel = 5*time.Minute, "kvm"
	}
	if s := os.Getenv("IMDSD_VM_BOOT_TIMEOUT"); s != "" {
		if bootTimeout, err = time.ParseDuration(s); err != nil {
			t.Fatalf("IMDSD_VM_BOOT_TIMEOUT=%s: %v", s, err)
		}
	}
	t.Logf("accelerator: %s; boot timeout %s", accel, bootTimeout)

	logRoot := os.Getenv("IMDSD_VM_LOGS")
	if logRoot == "" {
		logRoot = filepath.Join(repo, "build", "vm-logs")
	}

	var summary []string
	for i, rc := range vmRecipes {
		ok := t.Run(rc.name, func(t *testing.T) {
			b := &vmBoot{recipe: rc, fault: fault, logs: filepath.Join(logRoot, rc.name)}
			defer func() {
				summary = append(summary, fmt.Sprintf("%s: DHCP lease after %s, cloud-init finished after %s, ssh after %s, spot notice seen %s after it was issued",
					rc.name, vmDur(b.lease), vmDur(b.final), vmDur(b.sshUp), vmDur(b.spot)))
			}()
			b.boot(t, r, i, img, kvm, bootTimeout, imdsd, getimds)
			b.checks(t)
		})
		if !ok {
			t.Logf("%s failed; its logs are in %s", rc.name, filepath.Join(logRoot, rc.name))
		}
	}
	t.Logf("measured, with %s:\n\t%s", accel, strings.Join(summary, "\n\t"))
}

// vmDur prints a measured time, or "-" for one never reached.
func vmDur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Second).String()
}

// boot builds the namespace, starts imdsd, dnsmasq and qemu, and waits
// until cloud-init has finished in the guest.
func (b *vmBoot) boot(t *testing.T, r *vmReaper, idx int, img *vmImage, kvm bool, timeout time.Duration, imdsdBin, getimdsBin string) {
	rc := b.recipe
	dir := t.TempDir()
	if err := os.RemoveAll(b.logs); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(b.logs, 0o755); err != nil {
		t.Fatal(err)
	}

	// The key the guest's default user must get.
	b.key = filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "imdsd-vm-test", "-f", b.key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(b.key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	b.pubKey = strings.TrimSpace(string(pub))

	// The guest's disk: a copy of the image, with getimds and, for guests
	// without SMBIOS, the datasource_list that imdsd(8) documents.
	disk := filepath.Join(dir, "disk.raw")
	if out, err := exec.Command("cp", "--sparse=always", "--reflink=auto", img.disk, disk).CombinedOutput(); err != nil {
		t.Fatalf("copying the guest disk: %v: %s", err, out)
	}
	cmds := []string{"cd /usr/local/bin", "write " + getimdsBin + " getimds"}
	if rc.dsList {
		cfg := filepath.Join(dir, "90-imdsd.cfg")
		if err := os.WriteFile(cfg, []byte("# A guest without EC2's SMBIOS: imdsd(8), MANY GUESTS.\ndatasource_list: [ Ec2 ]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, "cd /etc/cloud/cloud.cfg.d", "write "+cfg+" 90-imdsd.cfg")
	}
	script := filepath.Join(dir, "debugfs.cmds")
	if err := os.WriteFile(script, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("debugfs", "-w", "-f", script, disk).CombinedOutput(); err != nil {
		t.Fatalf("writing into the guest disk with debugfs: %v: %s", err, out)
	}
	// debugfs reports a failed command and exits 0: check the result.
	st, err := os.Stat(getimdsBin)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("debugfs", "-R", "stat /usr/local/bin/getimds", disk).CombinedOutput()
	if err != nil || !regexp.MustCompile(`Mode: +0755\b`).Match(out) || !regexp.MustCompile(`Size: `+strconv.FormatInt(st.Size(), 10)+`\b`).Match(out) {
		t.Fatalf("getimds did not get into the guest disk as a %d-byte file of mode 0755: %v\n%s", st.Size(), err, out)
	}

	// imdsd's configuration: testdata/vm/imdsd.json with this boot's key,
	// names, tokens and fault.
	b.writeConfig(t, dir)

	// The network.
	b.ns = fmt.Sprintf("%s%d-%d", vmNSPrefix, os.Getpid(), idx)
	nsRun("ip", "netns", "del", b.ns)
	if _, err := nsRun("ip", "netns", "add", b.ns); err != nil {
		unavailable(t, "a network namespace cannot be made here: %v", err)
	}
	r.add(t, func() {
		if _, err := nsRun("ip", "netns", "del", b.ns); err != nil {
			fmt.Fprintf(os.Stderr, "removing the namespace %s: %v\n", b.ns, err)
		}
	})
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "br0", "type", "bridge"},
		{"link", "set", "br0", "up"},
		{"addr", "add", vmBridgeIP + "/24", "dev", "br0"},
		{"addr", "add", nsIMDSHost + "/32", "dev", "br0"},
		{"tuntap", "add", "dev", "tap0", "mode", "tap"},
		{"link", "set", "tap0", "master", "br0", "up"},
	} {
		if _, err := nsRun("ip", append([]string{"-n", b.ns}, args...)...); err != nil {
			t.Fatalf("building the guest's network: %v", err)
		}
	}

	// imdsd, the release build, on 169.254.169.254:80.
	b.imdsd = nsExecIMDSBin(t, imdsdBin, b.ns, b.config)
	r.add(t, func() { b.imdsd.cmd.Process.Kill() })
	t.Cleanup(func() { os.WriteFile(filepath.Join(b.logs, "imdsd.log"), []byte(b.imdsd.stderr.String()), 0o644) })
	deadline := time.Now().Add(15 * time.Second)
	for !b.imdsd.logged("listening", nsIMDS) {
		b.imdsd.running(t)
		if time.Now().After(deadline) {
			t.Fatalf("imdsd is not listening on %s within 15s; its log:\n%s", nsIMDS, b.imdsd.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// dnsmasq: DHCP only (port 0: no DNS), the guest's reserved address,
	// the bridge as its router.
	b.dnsmasq = &testbin.Output{}
	t.Cleanup(func() { os.WriteFile(filepath.Join(b.logs, "dnsmasq.log"), []byte(b.dnsmasq.String()), 0o644) })
	dns := vmStart(t, r, "dnsmasq", b.ns, b.dnsmasq, "dnsmasq", "--keep-in-foreground", "--no-daemon", "--conf-file=/dev/null",
		"--port=0", "--interface=br0", "--bind-interfaces", "--except-interface=lo",
		"--dhcp-range=10.77.0.100,10.77.0.199,255.255.255.0,1h",
		"--dhcp-host="+vmGuestMAC+","+vmGuestIP,
		"--dhcp-option=option:router,"+vmBridgeIP,
		"--dhcp-leasefile="+filepath.Join(dir, "dnsmasq.leases"),
		"--log-dhcp", "--log-facility=-", "--pid-file=")
	time.Sleep(200 * time.Millisecond)
	if dns.exited() {
		t.Fatalf("dnsmasq exited (%v):\n%s", dns.err, b.dnsmasq.String())
	}

	// qemu: kernel and initrd of the image, a serial console to a file.
	b.serial = filepath.Join(b.logs, "serial.log")
	qemuOut := &testbin.Output{}
	argv := []string{"qemu-system-x86_64", "-nodefaults", "-no-user-config", "-display", "none",
		"-machine", "q35", "-m", "1024", "-smp", "1",
		"-kernel", img.kernel, "-initrd", img.initrd,
		"-append", "root=/dev/vda rw console=ttyS0,115200n8 net.ifnames=0 panic=-1",
		"-drive", "file=" + disk + ",format=raw,if=virtio",
		"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac=" + vmGuestMAC,
		"-chardev", "file,id=s0,path=" + b.serial, "-serial", "chardev:s0",
		"-monitor", "none", "-no-reboot"}
	if kvm {
		argv = append(argv, "-accel", "kvm", "-cpu", "host")
	} else {
		argv = append(argv, "-accel", "tcg", "-cpu", "max")
	}
	if rc.smbios {
		argv = append(argv, "-smbios", "type=1,uuid="+vmSMBIOSUUID+",serial="+vmSMBIOSUUID)
	}
	t.Logf("qemu: %s", strings.Join(argv, " "))
	b.started = time.Now()
	b.qemu = vmStart(t, r, "qemu", b.ns, qemuOut, argv...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the serial console (last lines; all of it in %s):\n%s", b.serial, nsTail(b.serialLog(), 40))
		}
	})

	// Wait for cloud-init's final message, the lease on the way.
	deadline = b.started.Add(timeout)
	finalRE := regexp.MustCompile(`Cloud-init v\. \S+ finished at [^\n]*`)
	for {
		log := b.serialLog()
		if b.lease == 0 && strings.Contains(b.dnsmasq.String(), "DHCPACK(br0) "+vmGuestIP) {
			b.lease = time.Since(b.started)
			t.Logf("DHCP lease after %s", vmDur(b.lease))
		}
		if m := finalRE.FindString(log); m != "" {
			b.final = time.Since(b.started)
			b.finish = strings.TrimSpace(m)
			t.Logf("cloud-init finished after %s: %s", vmDur(b.final), b.finish)
			return
		}
		switch {
		case b.qemu.exited():
			t.Fatalf("qemu exited after %s before cloud-init finished (%v); its output:\n%s", vmDur(time.Since(b.started)), b.qemu.err, qemuOut.String())
		case strings.Contains(log, "Kernel panic"):
			t.Fatalf("the guest's kernel panicked after %s", vmDur(time.Since(b.started)))
		case time.Now().After(deadline):
			t.Fatalf("cloud-init did not finish within %s (IMDSD_VM_BOOT_TIMEOUT); the guest got no further than the serial log shows", timeout)
		}
		time.Sleep(2 * time.Second)
	}
}

// serialLog returns what the guest wrote to its serial console so far,
// with the carriage returns of the console dropped.
func (b *vmBoot) serialLog() string {
	raw, _ := os.ReadFile(b.serial)
	return strings.ReplaceAll(string(raw), "\r", "")
}

// writeConfig writes imdsd's configuration for this boot into dir.
func (b *vmBoot) writeConfig(t *testing.T, dir string) {
	t.Helper()
	raw, err := os.ReadFile("testdata/vm/imdsd.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("testdata/vm/imdsd.json: %v", err)
	}
	ud, err := os.ReadFile("testdata/vm/user-data")
	if err != nil {
		t.Fatal(err)
	}
	m["user_data"] = string(ud)
	m["ssh_public_keys"] = []string{b.pubKey}
	m["http_tokens"] = b.recipe.tokens
	m["instance_id"] = b.recipe.instanceID
	m["hostname"] = b.recipe.hostname
	m["local_hostname"] = b.recipe.hostname
	if b.fault != nil {
		m["force_status"] = b.fault
	}
	b.doc, b.config = m, filepath.Join(dir, "imdsd.json")
	b.rewriteConfig(t)
}

// rewriteConfig writes b.doc to imdsd's configuration file, atomically,
// since a running imdsd may read it, and keeps a copy with the logs.
func (b *vmBoot) rewriteConfig(t *testing.T) {
	t.Helper()
	out, err := json.MarshalIndent(b.doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.config+".new", out, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(b.config+".new", b.config); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(b.logs, "imdsd.json"), out, 0o644)
}

// ssh runs command in the guest as the default user with the test's key,
// from the guest's namespace, over the bridge.
func (b *vmBoot) ssh(t *testing.T, command string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", b.ns, "ssh", "-i", b.key, "-F", "/dev/null",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
		vmUser+"@"+vmGuestIP, command)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("no answer within 60s")
	}
	return strings.TrimSpace(string(out)), err
}

// markers returns what the guest's runcmd wrote to the serial console
// for the test: "IMDSVM name rc=N: value" lines, by name, the value
// lines of each name joined with newlines.
func (b *vmBoot) markers() map[string]string {
	m := map[string]string{}
	re := regexp.MustCompile(`^` + vmMarker + `(\S+) (.*)$`)
	for l := range strings.SplitSeq(b.serialLog(), "\n") {
		if i := strings.Index(l, vmMarker); i >= 0 {
			if s := re.FindStringSubmatch(l[i:]); s != nil {
				if m[s[1]] != "" {
					m[s[1]] += "\n"
				}
				m[s[1]] += s[2]
			}
		}
	}
	return m
}

// checks runs each check of issue 15 as a subtest of its own, so that
// each is reported on a line of its own.
func (b *vmBoot) checks(t *testing.T) {
	rc := b.recipe
	what := "imdsd's metadata"
	if b.fault != nil {
		f, _ := json.Marshal(b.fault)
		what = fmt.Sprintf("imdsd's metadata (imdsd has IMDSD_VM_FAULT's force_status %s)", f)
	}

	t.Run("dhcp-lease", func(t *testing.T) {
		if !strings.Contains(b.dnsmasq.String(), "DHCPACK(br0) "+vmGuestIP+" "+vmGuestMAC) {
			t.Errorf("the guest got no DHCP lease: dnsmasq logged no DHCPACK of %s to %s", vmGuestIP, vmGuestMAC)
		}
		// cloud-init's table of interfaces: | eth0 | True | 10.77.0.21 | ...
		if !regexp.MustCompile(`ci-info: \|\s+eth0\s+\|\s+True\s+\|\s+` + regexp.QuoteMeta(vmGuestIP) + `\s`).MatchString(b.serialLog()) {
			t.Errorf("cloud-init did not report eth0 up with %s on the serial console", vmGuestIP)
		}
	})

	t.Run("ec2-datasource", func(t *testing.T) {
		want := "Datasource " + rc.datasource + "."
		if !strings.Contains(b.finish, want) {
			got := regexp.MustCompile(`Datasource (\S+?)\.`).FindStringSubmatch(b.finish)
			if len(got) == 2 && got[1] == "DataSourceNone" {
				t.Errorf("the guest did not get %s: cloud-init ended on DataSourceNone, want %s (%q)", what, rc.datasource, b.finish)
			} else {
				t.Errorf("cloud-init finished with %q, want %q", b.finish, want)
			}
		}
	})

	// ssh: from the namespace, over the bridge, with the key imdsd served.
	var sshErr error
	t.Run("ssh-with-imdsd-key", func(t *testing.T) {
		deadline := time.Now().Add(90 * time.Second)
		for {
			out, err := b.ssh(t, "true")
			if err == nil {
				b.sshUp = time.Since(b.started)
				return
			}
			if time.Now().After(deadline) {
				sshErr = fmt.Errorf("ssh %s@%s with the key imdsd serves did not work within 90s of cloud-init finishing: %v: %s", vmUser, vmGuestIP, err, out)
				t.Errorf("the guest did not get the SSH key from %s: %v", what, sshErr)
				return
			}
			time.Sleep(3 * time.Second)
		}
	})
	guest := func(t *testing.T, command string) string {
		t.Helper()
		if sshErr != nil {
			t.Fatalf("cannot look inside the guest: %v", sshErr)
		}
		out, err := b.ssh(t, command)
		if err != nil {
			t.Fatalf("ssh %s: %v: %s", command, err, out)
		}
		return out
	}

	t.Run("authorized-keys", func(t *testing.T) {
		got := guest(t, "cat ~/.ssh/authorized_keys")
		if !strings.Contains(got, b.pubKey) {
			t.Errorf("the guest did not get the SSH key from %s: ~%s/.ssh/authorized_keys is\n%s\nwant it to hold %s", what, vmUser, got, b.pubKey)
		}
	})

	t.Run("hostname", func(t *testing.T) {
		if got := guest(t, "hostname"); got != rc.hostname {
			t.Errorf("the guest did not get its hostname from %s: hostname is %q, want %q", what, got, rc.hostname)
		}
	})

	t.Run("user-data-write-files-runcmd", func(t *testing.T) {
		m := b.markers()
		if m["runcmd"] != "ran" {
			t.Errorf("the guest did not run the user-data from %s: no %q line on the serial console", what, vmMarker+"runcmd ran")
		}
		got := guest(t, "cat /etc/imdsd-vm/write-files /var/lib/imdsd-vm/runcmd 2>&1")
		want := "written by cloud-init's write_files from imdsd's user-data\nran by cloud-init's runcmd from imdsd's user-data"
		if got != want {
			t.Errorf("the guest did not run the user-data from %s: the files write_files and runcmd make hold\n%s\nwant\n%s", what, got, want)
		}
	})

	t.Run("getimds-in-guest", func(t *testing.T) {
		m := b.markers()
		tokens := ""
		if rc.tokens == "required" {
			tokens = " with IMDSv2 required"
		}
		if got, want := m["getimds-instance-id"], "rc=0: "+rc.instanceID; got != want {
			t.Errorf("getimds --no-fallback instance-id in the guest%s: the serial console has %q, want %q", tokens, got, want)
		}
		if got, want := m["getimds-ssh-keys"], "rc=0: "+b.pubKey; got != want {
			t.Errorf("getimds --no-fallback --ssh-keys in the guest%s: the serial console has %q, want %q", tokens, got, want)
		}
	})

	t.Run("imdsd-log", func(t *testing.T) {
		log := accessLog(t, b.imdsd.stderr.String())
		os.WriteFile(filepath.Join(b.logs, "access.log"), []byte(strings.Join(log, "\n")+"\n"), 0o644)
		var bad []string
		put, crawl, userData := 0, 0, 0
		var putOther []string // token PUTs answered with anything but 200
		for _, l := range log {
			f := strings.Fields(l)
			status, _ := strconv.Atoi(f[2])
			switch {
			case status == http.StatusUnauthorized || status == http.StatusForbidden || status >= 500:
				bad = append(bad, l)
			case f[0] == http.MethodPut && f[1] == "/latest/api/token" && status == 200:
				put++
			case f[0] == http.MethodPut && f[1] == "/latest/api/token":
				putOther = append(putOther, f[2])
			}
			// cloud-init asks for a dated version; getimds for latest.
			if f[0] == http.MethodGet && status == 200 && !strings.HasPrefix(f[1], "/latest/") {
				switch {
				case strings.Contains(f[1], "/meta-data/"):
					crawl++
				case strings.HasSuffix(f[1], "/user-data"):
					userData++
				}
			}
		}
		if rc.tokens == "required" && put == 0 {
			t.Errorf("imdsd answered no PUT /latest/api/token with 200 (%d with %s): cloud-init got no token", len(putOther), strings.Join(putOther, ", "))
		}
		if crawl == 0 || userData == 0 {
			t.Errorf("imdsd logged %d GETs of meta-data and %d of user-data answered 200 to cloud-init (a dated version); want both", crawl, userData)
		}
		if len(bad) > 0 {
			t.Errorf("imdsd answered %d requests with 401, 403 or 5xx:\n%s", len(bad), strings.Join(bad[:min(len(bad), 20)], "\n"))
		}
		t.Logf("imdsd: %d requests, %d token PUTs answered, %d meta-data and %d user-data GETs by cloud-init", len(log), put, crawl, userData)
	})

	t.Run("getimds-wait-spot-notice", func(t *testing.T) {
		b.spotNotice(t, what)
	})
}

// vmSpotNoticeTimeout bounds the wait for the guest to report the notice
// the host issued: getimds --wait asks once a second.
const vmSpotNoticeTimeout = 60 * time.Second

// spotNotice is the lifecycle check: the guest is a spot instance
// ("market": "spot" in testdata/vm/imdsd.json) whose runcmd found no
// notice (404) and left getimds --wait meta-data/spot/instance-action
// running. The host then issues a terminate notice, the way an admin does
// without imdsctl: the configuration gains a spot_interruption due at once
// and imdsd is reloaded (SIGHUP). The guest must print EC2's body with the
// time two minutes after the notice, and imdsd must log the transition at
// the notice's time.
func (b *vmBoot) spotNotice(t *testing.T, what string) {
	m := b.markers()
	before, ok := m["getimds-spot-before"]
	switch {
	case !ok:
		t.Fatalf("the guest did not ask for meta-data/spot/instance-action: no %q line on the serial console; the user-data from %s did not run", vmMarker+"getimds-spot-before", what)
	case !strings.HasPrefix(before, "rc=1: "):
		t.Fatalf("before the notice, getimds --no-fallback meta-data/spot/instance-action in the guest should find nothing (404, exit 1) in %s; the serial console has %q", what, before)
	case m["getimds-spot-waiting"] != "rc=0":
		t.Fatalf("the guest's runcmd did not start getimds --wait meta-data/spot/instance-action with systemd-run: the serial console has %q, want %q", m["getimds-spot-waiting"], "rc=0")
	}
	if got, ok := m["getimds-spot"]; ok {
		t.Fatalf("the guest's getimds --wait ended before the host issued a notice: %q", got)
	}

	// Issue the notice: due at once, counted from the reload.
	b.doc["spot_interruption"] = map[string]any{"action": "terminate", "after": "0s"}
	b.rewriteConfig(t)
	issued := time.Now()
	b.imdsd.reload(t)
	deadline := issued.Add(vmSpotNoticeTimeout)
	var got string
	for {
		if b.imdsd.logged("reload failed") {
			t.Fatalf("imdsd refused the configuration with the spot_interruption:\n%s", nsTail(b.imdsd.stderr.String(), 10))
		}
		var ok bool
		if got, ok = b.markers()["getimds-spot"]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guest's getimds --wait meta-data/spot/instance-action reported nothing within %s of the host issuing a spot notice (imdsd reloaded at %s); imdsd's log (the last lines):\n%s",
				vmSpotNoticeTimeout, issued.UTC().Format(time.RFC3339Nano), nsTail(b.imdsd.stderr.String(), 10))
		}
		time.Sleep(time.Second)
	}
	b.spot = time.Since(issued)
	t.Logf("the guest's getimds --wait reported %s after the reload: %s", vmDur(b.spot), got)

	// EC2's body, compact, byte for byte.
	body := regexp.MustCompile(`^rc=0: \{"action":"terminate","time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"\}$`).FindStringSubmatch(got)
	if body == nil {
		t.Fatalf("the guest's getimds --wait meta-data/spot/instance-action printed %q; want rc=0 and {\"action\":\"terminate\",\"time\":\"<RFC 3339, seconds, Z>\"}", got)
	}
	due, _ := time.Parse(time.RFC3339, body[1])

	// The transition imdsd logged, at the notice's time: the reload's,
	// rounded up to the second.
	tr := regexp.MustCompile(`msg="lifecycle transition" guest=(\S+) kind=spot_interruption what="terminate at (\S+)" at=(\S+)`).FindStringSubmatch(b.imdsd.stderr.String())
	if tr == nil {
		t.Fatalf("imdsd logged no lifecycle transition of kind spot_interruption; its log (the last lines):\n%s", nsTail(b.imdsd.stderr.String(), 10))
	}
	at, err := time.Parse(time.RFC3339, tr[3])
	if err != nil {
		t.Fatalf("imdsd's transition line: at=%s: %v", tr[3], err)
	}
	if tr[2] != body[1] {
		t.Errorf("imdsd logged the notice as \"terminate at %s\", the guest got the time %s", tr[2], body[1])
	}
	if !due.Equal(at.Add(2 * time.Minute)) {
		t.Errorf("the guest got the time %s, want the notice's time %s and two minutes", body[1], tr[3])
	}
	if lo, hi := issued.Truncate(time.Second), issued.Add(5*time.Second); at.Before(lo) || at.After(hi) {
		t.Errorf("imdsd logged the notice at %s; the host issued it (reloaded) at %s", tr[3], issued.UTC().Format(time.RFC3339Nano))
	}

	// The guest waited: it was answered 404 before the notice and 200
	// once.
	var n404, n200 int
	for _, l := range accessLog(t, b.imdsd.stderr.String()) {
		switch l {
		case "GET /latest/meta-data/spot/instance-action 404":
			n404++
		case "GET /latest/meta-data/spot/instance-action 200":
			n200++
		}
	}
	if n404 < 2 || n200 != 1 {
		t.Errorf("imdsd answered the guest's GETs of meta-data/spot/instance-action %d times 404 and %d times 200; want the first look and the wait's polls 404 (at least 2), then one 200", n404, n200)
	}
	t.Logf("imdsd: notice at %s (guest %s), the guest asked %d times before it and got %s", tr[3], tr[1], n404, got[len("rc=0: "):])
}
