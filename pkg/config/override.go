package config

// Runtime overrides: the instance keys imdsctl patch sets on a running
// guest, laid over what the configuration gives and checked as the file
// would be, with the same messages.

// StateFileNone is the state_file value that keeps no runtime state.
const StateFileNone = "none"

// Override returns e, an entry of c or one [Config.ParseEntry] made, with
// doc over it: a JSON object of instance keys (a guest's runtime
// overrides), whose keys replace the ones e's file gives as the entry's
// own keys replace the top level's, so that derived values (host names from
// local_ipv4, ...) follow. The result is provisioned and validated as an
// instances_dir file would be; messages name the document name. match,
// listen and instance_id are not keys an override may change: they say who
// the guest is.
func (c *Config) Override(e *Entry, name string, doc []byte) (*Entry, ErrorList, error) {
	p := &parser{file: name}
	var o Entry
	if !p.decode(doc, &o) {
		return finishEntry(nil, p)
	}
	p.fixed(e.InstanceID, &o.Instance)
	if e.ByOwnMAC() && p.given("mac") {
		p.errorf("mac", "cannot change at run time: the guest is matched by it; remove the guest and add it again, or edit the configuration")
	}
	base := &e.Instance
	if e.ownInst != nil {
		base = c.base.Merge(e.ownInst, e.ownGiven)
	}
	n := *e // match, listen, the MAC addresses and what the entry gives stay
	n.Instance = *base.Merge(&o.Instance, p.given)
	n.ownInst, n.ownGiven = n.Instance.clone(), func(path string) bool {
		return p.given(path) || e.ownGiven != nil && e.ownGiven(path)
	}
	n.decoded = n.Instance.clone()
	n.provision()
	n.Instance.validate(p)
	return finishEntry(&n, p)
}

// OverrideDefault is [Config.Override] for the top-level instance: c's
// default instance with doc over it.
func (c *Config) OverrideDefault(name string, doc []byte) (*Instance, ErrorList, error) {
	p := &parser{file: name}
	var o Entry
	if !p.decode(doc, &o) {
		_, diags, err := finishEntry(nil, p)
		return nil, diags, err
	}
	p.fixed(c.InstanceID, &o.Instance)
	in := c.base.Merge(&o.Instance, p.given)
	in.provision()
	in.validate(p)
	_, diags, err := finishEntry(nil, p)
	if err != nil {
		return nil, diags, err
	}
	return in, diags, nil
}

// fixed reports the keys of an override that say who the guest is.
func (p *parser) fixed(id string, o *Instance) {
	for _, k := range []string{"match", "listen"} {
		if p.given(k) {
			p.errorf(k, "cannot change at run time: it says which clients the guest is; remove the guest and add it again (imdsctl remove, imdsctl add), or edit the configuration")
		}
	}
	if p.given("instance_id") && o.InstanceID != id {
		p.errorf("instance_id", "cannot change at run time (the guest is %s): give the guest another id by removing it and adding it again", quote(id))
	}
}
