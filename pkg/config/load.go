package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/imdsd/imdsd/internal/strictjson"
)

// Bounds on what loading reads and reports, so that no file, however odd,
// can hold up a check or a reload.
const (
	// MaxFileSize is the largest configuration file read: the main file
	// and each file of instances_dir.
	MaxFileSize = 4 << 20
	// MaxTotalSize bounds the bytes read for one configuration, the main
	// file and its instances_dir together.
	MaxTotalSize = 64 << 20
	// MaxProblems bounds the errors and warnings reported for one
	// configuration; a last message says how many more there were.
	MaxProblems = 100
)

// Load reads, completes and checks the configuration file at path, or the
// built-in default when path is "". It returns the configuration, or nil
// when it does not load, with every problem found (diags: warnings, then
// errors, each with its Severity) and, when it does not load, err: an
// [ErrorList] of the errors alone. A file that cannot be read is an error
// with no line that wraps the reason (errors.Is(err, fs.ErrNotExist)).
// Only regular files are read, without blocking, and at most
// [MaxFileSize] bytes of each.
func Load(path string) (cfg *Config, diags ErrorList, err error) {
	if path == "" {
		return Parse(DefaultName, defaultJSON)
	}
	l := newLoader()
	data, e := l.read(path)
	if e != nil {
		return l.finish(nil, []*parser{{file: path, errs: ErrorList{e}}})
	}
	return l.parse(path, data, filepath.Dir(path))
}

// Parse completes and checks the configuration text data, as [Load] does
// for a file; name is the file name used in messages, and relative paths
// in it (instances_dir, token_key_file) start from its directory. Parse is
// deterministic: the same input always gives the same result and messages.
func Parse(name string, data []byte) (cfg *Config, diags ErrorList, err error) {
	dir := ""
	if name != DefaultName {
		dir = filepath.Dir(name)
	}
	return newLoader().parse(name, data, dir)
}

// loader is one load: what it may still read.
type loader struct {
	budget int64 // bytes left of MaxTotalSize
}

func newLoader() *loader { return &loader{budget: MaxTotalSize} }

// read returns the content of the regular file at path. A file that is
// not regular (a FIFO, a device, a directory) is refused before it is
// opened, and again after, in case it changed between the two: reading
// must never block. Nothing of the file is quoted in the error.
func (l *loader) read(path string) ([]byte, *Error) {
	fail := func(msg string, err error) ([]byte, *Error) {
		return nil, &Error{File: path, Msg: msg, off: -1, err: err}
	}
	cannot := func(err error) ([]byte, *Error) {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fail("cannot read: "+pe.Err.Error(), err)
		}
		return fail("cannot read: "+err.Error(), err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return cannot(err)
	}
	if !st.Mode().IsRegular() {
		return fail(notRegular(st.Mode()), nil)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return cannot(err)
	}
	defer f.Close()
	if st2, err := f.Stat(); err != nil {
		return cannot(err)
	} else if !st2.Mode().IsRegular() || !os.SameFile(st, st2) {
		return fail(notRegular(st2.Mode()), nil)
	}
	limit := min(int64(MaxFileSize), l.budget)
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return cannot(err)
	}
	if int64(len(data)) > limit {
		if limit < MaxFileSize {
			return fail(fmt.Sprintf("is more than the %d MiB imdsd reads for one configuration with its instances_dir together", MaxTotalSize>>20), nil)
		}
		return fail(fmt.Sprintf("is larger than %d MiB, the most imdsd reads of a configuration file", MaxFileSize>>20), nil)
	}
	l.budget -= int64(len(data))
	return data, nil
}

// notRegular says why a file that is not a regular file is not read.
func notRegular(m fs.FileMode) string {
	what := "not a regular file"
	switch {
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeCharDevice != 0:
		what = "a character device"
	case m&fs.ModeDevice != 0:
		what = "a device"
	}
	return "is " + what + ", not read: a configuration must be a regular file"
}

// schema is what the binder needs to know about the keys.
var schema = strictjson.Schema{
	Empty:   `the file is empty: expected a JSON object such as {"instance_id": "i-0123456789abcdef0"}`,
	Range:   func(field string) string { return rangeOf(field).expect },
	Example: func(field string) string { return examples[instanceField(field)] },
	Unknown: misplaced,
	// Room for the problems found after decoding, so that the count of
	// what is left out is right.
	MaxProblems: MaxProblems,
}

var (
	instanceKeys = keySet(reflect.TypeFor[Instance]())
	entryKeys    = keySet(reflect.TypeFor[Entry]())
	fileKeys     = keySet(reflect.TypeFor[File]())
)

func keySet(t reflect.Type) map[string]bool {
	m := map[string]bool{}
	for _, k := range strictjson.Keys(t) {
		m[k] = true
	}
	return m
}

// misplaced explains a key of an entry given at the top level, or a key
// of the service given in an entry: keys the other type has.
func misplaced(t reflect.Type, field, key string) string {
	switch t {
	case reflect.TypeFor[File]():
		if entryKeys[key] && !instanceKeys[key] {
			return "belongs inside an entry of instances or a file of instances_dir: at the top level there is no guest to match"
		}
	case reflect.TypeFor[Entry]():
		if fileKeys[key] && !instanceKeys[key] {
			return "is a top-level key: it configures the service, not one instance"
		}
	}
	return ""
}

// instanceField is a field path relative to the instance holding it:
// "instances[].force_status" is "force_status".
func instanceField(field string) string {
	return strings.TrimPrefix(field, "instances[].")
}

// parse decodes, provisions and validates the main file's text data.
func (l *loader) parse(name string, data []byte, dir string) (*Config, ErrorList, error) {
	p := &parser{file: name}
	var f File
	if !p.decode(data, &f) {
		// The text is not JSON: nothing after the break can be trusted.
		return l.finish(nil, []*parser{p})
	}
	c := &Config{Instance: f.Instance, Service: f.Service, base: f.Instance.clone(), dir: dir}
	// Provision: fill in, report nothing.
	c.Instance.provision()
	c.Service.provision(p, dir)
	type source struct {
		e     *Entry
		p     *parser // scoped to the entry
		owner *parser // collects its messages
	}
	var srcs []source
	for i := range f.Instances {
		e := &f.Instances[i]
		sub := p.in(fmt.Sprintf("instances[%d]", i))
		e.Origin = fmt.Sprintf("%s:%d", p.file, p.doc.Line(p.doc.KeyOffset(sub.scope)))
		c.complete(e, sub)
		srcs = append(srcs, source{e, sub, p})
	}
	files := []*parser{p}
	if c.InstancesDir != "" {
		names, err := filepath.Glob(filepath.Join(c.InstancesDir, "*.json"))
		if err == nil {
			_, err = os.ReadDir(c.InstancesDir)
		}
		if err != nil {
			p.errorf("instances_dir", "cannot read %s: %v", c.InstancesDir, err)
		}
		slices.Sort(names)
		for _, name := range names {
			sub := &parser{file: name}
			files = append(files, sub)
			data, e := l.read(name)
			if e != nil {
				sub.errs = append(sub.errs, e)
				continue
			}
			var e2 Entry
			if !sub.decode(data, &e2) {
				continue
			}
			e2.Origin = name
			c.complete(&e2, sub)
			srcs = append(srcs, source{&e2, sub, sub})
		}
	}

	// Validate: judge, change nothing.
	c.Instance.validate(p)
	c.Service.validate(p, len(f.Instances) > 0)
	topMsgs := map[string]bool{}
	for _, e := range p.errs {
		topMsgs[e.Key+"\x00"+e.Msg] = true
	}
	for _, s := range srcs {
		s.e.validate(s.p, topMsgs)
		s.owner.adopt(s.p)
	}
	var checked []checkedEntry
	for _, s := range srcs {
		sub := s.owner.in(s.p.scope)
		checked = crossCheck(checked, s.e, sub, !sub.given("instance_id"))
		s.owner.adopt(sub)
	}
	for _, s := range srcs {
		c.entries = append(c.entries, s.e)
	}
	return l.finish(c, files)
}

// complete makes e, as decoded, the entry it means: the top level's
// instance with e's own keys over it, provisioned, and its match and
// listen read. p is scoped to e.
func (c *Config) complete(e *Entry, p *parser) {
	e.ownInst, e.ownGiven = e.Instance.clone(), p.given
	e.Instance = *c.base.Merge(&e.Instance, p.given)
	e.own = ownKeys{localIPv4: p.given("local_ipv4"), mac: p.given("mac")}
	e.decoded = e.Instance.clone()
	e.provision()
}

// ParseEntry completes and checks data as one more file of c's
// instances_dir: an [Entry] inheriting c's top-level instance. Messages are
// about data, named name. It does not check e against c's other entries
// (overlapping match, a repeated instance_id).
func (c *Config) ParseEntry(name string, data []byte) (*Entry, ErrorList, error) {
	p := &parser{file: name}
	var e Entry
	if !p.decode(data, &e) {
		return finishEntry(nil, p)
	}
	e.Origin = name
	c.complete(&e, p)
	e.validate(p, nil)
	return finishEntry(&e, p)
}

func finishEntry(e *Entry, p *parser) (*Entry, ErrorList, error) {
	_, diags, err := newLoader().finish(nil, []*parser{p})
	if err != nil {
		return nil, diags, err
	}
	return e, diags, nil
}

// finish puts the messages of files (the main file first) in order, bounds
// them and returns c, unless there is an error.
func (l *loader) finish(c *Config, files []*parser) (*Config, ErrorList, error) {
	var errs, warns ErrorList
	dropped := 0
	for _, f := range files { // an instances_dir file's messages follow the main file's
		f.sort()
		errs, warns = append(errs, f.errs...), append(warns, f.warns...)
		if f.doc != nil {
			dropped += f.doc.Dropped
		}
	}
	for _, e := range errs {
		e.Severity = SeverityError
	}
	for _, w := range warns {
		w.Severity = SeverityWarning
	}
	if n := len(errs) + len(warns); n > MaxProblems {
		// Errors first: they are what stops the configuration.
		keepErrs := min(len(errs), MaxProblems)
		keepWarns := MaxProblems - keepErrs
		dropped += n - MaxProblems
		errs, warns = errs[:keepErrs], warns[:keepWarns]
	}
	if dropped > 0 {
		name := ""
		if len(files) > 0 {
			name = files[0].file
		}
		more := &Error{File: name, Msg: fmt.Sprintf("%d more problems not shown; correct the ones above and check again", dropped), off: -1}
		if len(errs) > 0 {
			more.Severity = SeverityError
			errs = append(errs, more)
		} else {
			more.Severity = SeverityWarning
			warns = append(warns, more)
		}
	}
	diags := append(append(ErrorList{}, warns...), errs...)
	if len(diags) == 0 {
		diags = nil
	}
	if len(errs) > 0 {
		return nil, diags, errs
	}
	return c, diags, nil
}

// parser is one file being read and what was found wrong with it.
type parser struct {
	file  string
	doc   *strictjson.Doc
	errs  ErrorList
	warns ErrorList

	// scope is the path of the object being provisioned and validated
	// ("instances[2]"), or "" for the top level and for a file of
	// instances_dir. Paths given to the methods below are relative to it.
	scope string
}

// decode binds the text data to v and records what the binder found. It
// reports false when the text is not JSON, after which nothing else is
// checked.
func (p *parser) decode(data []byte, v any) bool {
	doc, ok := strictjson.Decode(data, v, schema)
	p.doc = doc
	for _, pr := range doc.Problems {
		e := &Error{File: p.file, Key: pr.Key, Msg: pr.Msg, off: pr.Off}
		if pr.Off >= 0 {
			e.Line = doc.Line(pr.Off)
		}
		p.errs = append(p.errs, e)
	}
	return ok
}

// in returns p scoped to the object at path (relative to p's scope); its
// messages must be handed back with adopt.
func (p *parser) in(path string) *parser {
	return &parser{file: p.file, doc: p.doc, scope: p.full(path)}
}

// adopt takes the messages recorded on sub, a scoped copy of p.
func (p *parser) adopt(sub *parser) {
	if sub == p {
		return
	}
	p.errs, p.warns = append(p.errs, sub.errs...), append(p.warns, sub.warns...)
	sub.errs, sub.warns = nil, nil
}

// full returns the path of the key at path relative to p.scope.
func (p *parser) full(path string) string {
	if p.scope == "" {
		return path
	}
	if path == "" {
		return p.scope
	}
	return p.scope + "." + path
}

// given reports whether the file has the key at path.
func (p *parser) given(path string) bool { return p.doc.Given(p.full(path)) }

// isBad reports whether the value at path, or one holding it, could not be
// decoded.
func (p *parser) isBad(path string) bool { return p.doc.Bad(p.full(path)) }

// errorf records an error about the key at path (such as "region",
// "iam.role", "ssh_public_keys[1]" or `force_status["api/token"]`). Nothing
// is recorded for a key whose value could not be decoded: that error is
// already there, and the value checked would be a stand-in.
func (p *parser) errorf(path, format string, args ...any) {
	if !p.isBad(path) {
		p.errs = append(p.errs, p.at(path, format, args...))
	}
}

// warnf records a warning about the key at path. Only keys the file gives
// are warned about: a value imdsd derived is either fine or follows from a
// given one, which has its own message.
func (p *parser) warnf(path, format string, args ...any) {
	if p.given(path) && !p.isBad(path) {
		p.warns = append(p.warns, p.at(path, format, args...))
	}
}

// at makes an error about path, placed at the key or, for a key the file
// leaves out, at the closest enclosing key it gives.
func (p *parser) at(path, format string, args ...any) *Error {
	path = p.full(path)
	e := &Error{File: p.file, Key: path, Msg: fmt.Sprintf(format, args...), off: -1}
	if p.doc != nil {
		e.off = p.doc.Offset(path)
		e.Line = p.doc.Line(e.off)
	}
	return e
}

// where says "file:line" for the key at path.
func (p *parser) where(path string) string {
	e := p.at(path, "")
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	return e.File
}

// sort puts errors and warnings in file order; the ones with no place go
// last. Ties keep the order they were found in, which is itself fixed.
func (p *parser) sort() {
	for _, l := range []ErrorList{p.errs, p.warns} {
		sort.SliceStable(l, func(i, j int) bool {
			a, b := l[i].off, l[j].off
			if (a < 0) != (b < 0) {
				return b < 0
			}
			return a < b
		})
	}
}
