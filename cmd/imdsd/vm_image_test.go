//go:build vmtest && linux

package main

// The guest image of the VM test (vm_test.go): a minimal Debian root file
// system made with debootstrap from this machine's own apt mirror, put in
// an ext4 disk image, with the kernel and initrd it installed next to it.
// It is cached between runs, under a key made of everything that went
// into it: this file, the suite, the mirror, the packages and the keyring.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/imdsd/imdsd/internal/testbin"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// vmSuite is the guest's Debian release.
	vmSuite = "bookworm"
	// vmDiskSize is the size of the guest's (sparse) root disk.
	vmDiskSize = "3G"
	// vmBuildTimeout bounds debootstrap and the rest of the image build.
	vmBuildTimeout = 30 * time.Minute
	// vmDefaultKeyring is Debian's archive keyring, for mirrors whose
	// source names none.
	vmDefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
)

// vmPackages are what apt installs in the guest after debootstrap's
// minbase (apt, unlike debootstrap's --include, configures them in an order
// that works): an init
// system, cloud-init with what it runs (ifupdown and dhclient for its
// network configuration and for the ephemeral DHCP of its init-local
// stage), sshd, and a kernel whose initramfs has virtio's drivers.
var vmPackages = []string{
	"systemd-sysv", "udev", "dbus", "kmod", "e2fsprogs", "iproute2", "netbase",
	"ifupdown", "isc-dhcp-client", "openssh-server", "sudo", "cloud-init",
	"linux-image-amd64",
}

// vmImage is a built guest image, shared by every boot: a boot copies the
// disk before writing to it.
type vmImage struct {
	dir, disk, kernel, initrd string
	mirror                    string
}

// vmCacheRoot is where images are kept: $IMDSD_VM_CACHE, else
// $XDG_CACHE_HOME/imdsd/vm, else build/vm-cache in the repository.
func vmCacheRoot() (string, error) {
	if d := os.Getenv("IMDSD_VM_CACHE"); d != "" {
		return filepath.Abs(d)
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "imdsd", "vm"), nil
	}
	return filepath.Abs(filepath.Join("..", "..", "build", "vm-cache"))
}

// vmMirror is the mirror and keyring to bootstrap from: $IMDSD_VM_MIRROR,
// or the one this machine's apt sources use.
func vmMirror() (mirror, keyring string, err error) {
	if m := os.Getenv("IMDSD_VM_MIRROR"); m != "" {
		mirror = m
	} else {
		srcs, err := readAptSources("/")
		if err != nil {
			return "", "", fmt.Errorf("reading this machine's apt sources: %w", err)
		}
		src, err := pickMirror(srcs, vmSuite)
		if err != nil {
			return "", "", err
		}
		mirror, keyring = src.uri, src.signedBy
	}
	if keyring == "" {
		keyring = vmDefaultKeyring
	}
	if _, err := os.Stat(keyring); err != nil {
		keyring = "" // debootstrap's own default
	}
	return mirror, keyring, nil
}

// vmImageFor returns the cached image for what would build it now, and
// builds it first if there is none.
func vmImageFor(t *testing.T, r *vmReaper) *vmImage {
	t.Helper()
	root, err := vmCacheRoot()
	if err != nil {
		t.Fatal(err)
	}
	mirror, keyring, err := vmMirror()
	if err != nil {
		t.Fatalf("the guest image: %v", err)
	}
	self, err := os.ReadFile("vm_image_test.go")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00", self, vmSuite, mirror, strings.Join(vmPackages, ","), vmDiskSize)
	if keyring != "" {
		k, err := os.ReadFile(keyring)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(k)
	}
	key := vmSuite + "-" + hex.EncodeToString(h.Sum(nil))[:16]
	img := &vmImage{
		dir:    filepath.Join(root, key),
		mirror: mirror,
	}
	img.disk = filepath.Join(img.dir, "disk.raw")
	img.kernel = filepath.Join(img.dir, "vmlinuz")
	img.initrd = filepath.Join(img.dir, "initrd.img")

	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// One build at a time: a second run waits for the first one's image.
	lock, err := os.OpenFile(filepath.Join(root, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatalf("locking the image cache %s: %v", root, err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)

	if _, err := os.Stat(filepath.Join(img.dir, "inputs")); err == nil {
		t.Logf("guest image: cached in %s (Debian %s from %s)", img.dir, vmSuite, mirror)
		return img
	}
	start := time.Now()
	t.Logf("guest image: building Debian %s from %s (this machine's apt source) into %s; bounded by %s", vmSuite, mirror, img.dir, vmBuildTimeout)
	vmBuildImage(t, r, root, img, key, mirror, keyring)
	t.Logf("guest image: built in %s", time.Since(start).Round(time.Second))

	// Older images, built from other inputs, are of no more use.
	old, _ := filepath.Glob(filepath.Join(root, vmSuite+"-*"))
	for _, o := range old {
		if o != img.dir {
			t.Logf("guest image: removing the outdated %s", o)
			os.RemoveAll(o)
		}
	}
	return img
}

// vmBuildImage bootstraps, configures and packs the image into img.dir,
// through a temporary directory renamed into place once complete.
func vmBuildImage(t *testing.T, r *vmReaper, root string, img *vmImage, key, mirror, keyring string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), vmBuildTimeout)
	defer cancel()
	tmp := filepath.Join(root, ".build-"+key)
	os.RemoveAll(tmp) // an interrupted build
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	// Every step's output goes to build.log in the cache, kept after a
	// failed build.
	logPath := filepath.Join(root, "build.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	run := func(name string, args ...string) {
		t.Helper()
		fmt.Fprintf(logf, "+ %s %s\n", name, strings.Join(args, " "))
		start := time.Now()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
		var out testbin.Output
		cmd.Stdout, cmd.Stderr = io.MultiWriter(logf, &out), io.MultiWriter(logf, &out)
		err := cmd.Run()
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (the image build is bounded by %s)", ctx.Err(), vmBuildTimeout)
			}
			detail := nsTail(out.String(), 40)
			if dl, rerr := os.ReadFile(filepath.Join(rootfs, "debootstrap", "debootstrap.log")); rerr == nil {
				detail += "\ndebootstrap.log (the last lines):\n" + nsTail(string(dl), 40)
			}
			t.Fatalf("building the guest image: %s %s: %v (all output in %s)\n%s", name, strings.Join(args, " "), err, logPath, detail)
		}
		t.Logf("guest image: %s took %s", name, time.Since(start).Round(time.Second))
	}

	args := []string{"--variant=minbase", "--components=main"}
	if keyring != "" {
		args = append(args, "--keyring="+keyring)
	}
	run("debootstrap", append(args, vmSuite, rootfs, mirror)...)

	// apt in the new system installs the rest, with /proc mounted, this
	// machine's resolver, and no service started in the chroot.
	write := func(name, text string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(rootfs, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(rootfs, "etc/resolv.conf"))
	write("etc/resolv.conf", string(resolv), 0o644)
	write("usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755)
	proc := filepath.Join(rootfs, "proc")
	if err := unix.Mount("proc", proc, "proc", 0, ""); err != nil {
		t.Fatalf("mounting /proc in the guest's root: %v", err)
	}
	umount := func() { unix.Unmount(proc, unix.MNT_DETACH) }
	r.add(t, umount)
	defer umount()
	run("chroot", rootfs, "apt-get", "update", "-q")
	run("chroot", append([]string{rootfs, "apt-get", "install", "-q", "-y", "--no-install-recommends"}, vmPackages...)...)
	run("chroot", rootfs, "apt-get", "clean")
	umount()
	os.Remove(filepath.Join(rootfs, "usr/sbin/policy-rc.d"))
	write("etc/resolv.conf", "", 0o644)

	files := map[string]string{
		"etc/fstab":    "/dev/vda / ext4 rw,errors=remount-ro 0 1\n",
		"etc/hostname": "imdsvm-image\n",
		"etc/hosts":    "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
		// Empty: systemd makes a new one on the first boot of each copy.
		"etc/machine-id": "",
		// cloud-init writes the guest's interfaces into interfaces.d.
		"etc/network/interfaces": "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n",
		// No datasource is named: ds-identify finds Ec2 by SMBIOS. Only
		// ed25519 host keys, which take no time to make even without KVM.
		"etc/cloud/cloud.cfg.d/10-imdsd-vm-image.cfg": "# imdsd VM test image: no datasource_list here, on purpose.\nssh_genkeytypes: [ed25519]\n",
	}
	for name, text := range files {
		p := filepath.Join(rootfs, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(filepath.Join(rootfs, "var/lib/dbus/machine-id"))
	// Timers that would only compete with cloud-init for the one CPU.
	for _, unit := range []string{"apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer"} {
		p := filepath.Join(rootfs, "etc/systemd/system", unit)
		os.Remove(p)
		if err := os.Symlink("/dev/null", p); err != nil {
			t.Fatal(err)
		}
	}

	// The kernel and initramfs the guest's own packages installed.
	out := filepath.Join(tmp, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for pattern, dst := range map[string]string{"vmlinuz-*": "vmlinuz", "initrd.img-*": "initrd.img"} {
		m, _ := filepath.Glob(filepath.Join(rootfs, "boot", pattern))
		if len(m) != 1 {
			t.Fatalf("building the guest image: want one /boot/%s in the guest, found %q", pattern, m)
		}
		raw, err := os.ReadFile(m[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, dst), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// mke2fs copies the tree itself: no loop device, no mount.
	run("mkfs.ext4", "-q", "-F", "-L", "imdsvm", "-E", "root_owner=0:0", "-d", rootfs, filepath.Join(out, "disk.raw"), vmDiskSize)
	inputs := fmt.Sprintf("suite %s\nmirror %s\nkeyring %s\npackages %s\nbuilt %s\n", vmSuite, mirror, keyring,
		strings.Join(vmPackages, " "), time.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(filepath.Join(out, "inputs"), []byte(inputs), 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(img.dir)
	if err := os.Rename(out, img.dir); err != nil {
		t.Fatal(err)
	}
}
